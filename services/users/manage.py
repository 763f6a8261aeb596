"""The course's command line (`python manage.py <command>`) and `manage:app` for WSGI."""

from flask.cli import FlaskGroup

from project import create_app
from project.commands import refuse_run

app = create_app()
cli = FlaskGroup(create_app=lambda: app)
if not app.config["DEBUGGER_ALLOWED"]:
    # `--debug run` would wrap even a production app in Werkzeug's debugger.
    cli.add_command(refuse_run)


if __name__ == "__main__":
    cli()
