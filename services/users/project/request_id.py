"""The request ID that follows one request from nginx through the service to its logs.

nginx passes on a client's well-formed X-Request-ID or makes one (services/nginx); the
service takes it, makes one itself when called directly, echoes it on the answer and
puts it in every log line about the request.
"""

import re
import secrets

REQUEST_ID_HEADER = "X-Request-ID"
# Where a request's WSGI environ keeps its ID, for the log lines said while it is answered.
REQUEST_ID_KEY = "users.request_id"
# What nginx passes on too: short, and nothing a log line or a header could be split by.
WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{1,64}")


def take_or_make(given):
    """Return the request ID `given` if it is well-formed, else a new one (32 hex digits)."""
    if given and WELL_FORMED.fullmatch(given):
        return given
    return secrets.token_hex(16)
