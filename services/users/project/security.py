"""What every response says about itself, and what production never runs."""

import functools
import logging
import os

from flask.helpers import get_debug_flag

log = logging.getLogger(__name__)

# No script, frame or plugin on the API's JSON; the HTML page only needs its inline <style>.
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
HSTS = "max-age=31536000; includeSubDomains"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def register_security(app):
    """Keep debugging off where it is not allowed and add security headers to responses."""
    if not app.config["DEBUGGER_ALLOWED"]:
        switch_debugging_off(app)
    app.wsgi_app = SecurityHeaders(app.wsgi_app, app.config["DEBUG_TB_ENABLED"])


def switch_debugging_off(app):
    """Turn Flask's debug mode off, whatever FLASK_DEBUG says.

    The toolbar is already off (ProductionConfig sets DEBUG_TB_ENABLED before it binds);
    resetting FLASK_DEBUG also keeps `flask run` from wrapping the app in Werkzeug's
    interactive debugger, which decides from that variable after the app is built.
    """
    if get_debug_flag():
        log.warning("FLASK_DEBUG is set, but this configuration never runs the debugger.")
        os.environ["FLASK_DEBUG"] = "0"
    app.debug = False


class SecurityHeaders:
    """WSGI middleware: every response gets the security headers it has not set itself.

    Added as plain pairs where the response starts, after Flask and Werkzeug have built
    their headers: an `after_request` hook adding them through Werkzeug's `Headers`
    (which checks every value) cost a ping much of its margin over a bare Flask app
    (docs/benchmarks.md).
    """

    def __init__(self, wsgi_app, toolbar):
        self.wsgi_app = wsgi_app
        self.toolbar = toolbar

    def __call__(self, environ, start_response):
        secure = environ.get("wsgi.url_scheme") == "https"

        def start_with_security_headers(status, headers, exc_info=None):
            content_type = next((value for name, value in headers
                                 if name.lower() == "content-type"), "")
            mimetype = content_type.partition(";")[0].strip().lower()
            present = {name.lower() for name, _ in headers}
            headers.extend(header for lowered, header in
                           security_headers(mimetype, secure, self.toolbar)
                           if lowered not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_with_security_headers)


@functools.cache
def security_headers(mimetype, secure, toolbar):
    """Return `(lowercased name, (name, value))` for a response of `mimetype`, worked out once."""
    headers = list(SECURITY_HEADERS.items())
    if mimetype == "application/json":
        headers.append(("Content-Security-Policy", JSON_CSP))
        # Bodies hold emails: no shared cache keeps them.
        headers.append(("Cache-Control", "no-store"))
    elif mimetype == "text/html" and not toolbar:
        # The development toolbar injects scripts a strict policy would block.
        headers.append(("Content-Security-Policy", PAGE_CSP))
    if secure:
        headers.append(("Strict-Transport-Security", HSTS))
    return tuple((name.lower(), (name, value)) for name, value in headers)
