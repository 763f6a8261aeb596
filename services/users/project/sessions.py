"""Flask's signed-cookie sessions, opened and saved only for requests that use them."""

from flask.sessions import SecureCookieSessionInterface


class CookieSessionInterface(SecureCookieSessionInterface):
    """Skip building the cookie signer when there is no session cookie to read.

    Only the page's flash messages use the session, yet Flask opens one for every
    request, and making the signer is a large part of what an API ping costs
    (docs/benchmarks.md). A request without the cookie gets an empty session, exactly as
    Flask would give it; saving works as before.
    """

    def open_session(self, app, request):
        if app.secret_key and not self.has_session_cookie(app, request):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        """Send nothing for a session that was neither read nor changed and holds nothing.

        Flask would send nothing for it either, but only after working out every cookie
        setting from the config, on every API request.
        """
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)

    def has_session_cookie(self, app, request):
        # The raw WSGI header first: API clients send no cookies, and parsing none costs.
        if not request.environ.get("HTTP_COOKIE"):
            return False
        return bool(request.cookies.get(self.get_cookie_name(app)))
