"""The course's command line (`python manage.py <command>`) and `manage:app` for WSGI."""

from flask.cli import FlaskGroup

from project import create_app

app = create_app()
cli = FlaskGroup(create_app=lambda: app)


if __name__ == "__main__":
    cli()
