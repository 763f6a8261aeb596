"""The course's command line (`python manage.py <command>`) and `manage:app` for WSGI."""

import sys

from flask.cli import FlaskGroup

from project import create_app
from project.commands import refuse_run
from project.settings import SettingError

try:
    app = create_app()
except SettingError as error:
    # A setting is the user's to fix: one line, not a traceback.
    sys.exit(f"Error: {error}")
cli = FlaskGroup(create_app=lambda: app)
if not app.config["DEBUGGER_ALLOWED"]:
    # `--debug run` would wrap even a production app in Werkzeug's debugger.
    cli.add_command(refuse_run)


if __name__ == "__main__":
    cli()
