"""The users service's tests (unittest, run by `python manage.py test`)."""
