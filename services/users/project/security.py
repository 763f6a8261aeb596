"""What every response says about itself, and what production never runs."""

import functools
import logging
import os

from flask import current_app, request
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
    app.after_request(add_security_headers)


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


def add_security_headers(response):
    """Add the security headers a response has not set itself."""
    present = {name.lower() for name, _ in response.headers}
    for name, value in security_headers(response.mimetype, request.is_secure,
                                        current_app.config["DEBUG_TB_ENABLED"]):
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


@functools.cache
def security_headers(mimetype, secure, toolbar):
    """Return the (name, value) pairs a response of `mimetype` gets, worked out once.

    Werkzeug's `Headers.setdefault` raises and catches an exception for every header
    missing, which cost more than the rest of a ping; a set of present names does not.
    """
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
    return tuple(headers)
