"""Check a new user before it reaches the database.

Every problem raises `APIError` with the course's "Invalid payload." and a `detail`
saying what was wrong.
"""

import functools
import re

from email_validator import EmailNotValidError, validate_email
from flask import request
from werkzeug.exceptions import BadRequest

from project.api.models import NAME_LENGTH
from project.errors import APIError

INVALID_PAYLOAD = "Invalid payload."
USER_FIELDS = ("username", "email")
# Unicode's categories Cc, control characters (NUL among them, which PostgreSQL refuses
# in text), and Cs, lone surrogates, which cannot be encoded as UTF-8 at all.
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# A local part email-validator always accepts: dot-separated runs of ASCII letters,
# digits and _+-, at most 64 characters. An address with one is valid exactly when its
# domain is.
PLAIN_LOCAL_PART = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")
LOCAL_PART_LENGTH = 64


def invalid(detail, status_code=400):
    return APIError(INVALID_PAYLOAD, status_code, detail=detail)


def read_json_body():
    """Return the request's parsed JSON body."""
    if not request.is_json:
        raise invalid("Send the user as JSON (Content-Type: application/json).", 415)
    try:
        return request.get_json()
    except (BadRequest, RecursionError):
        raise invalid("The body is not valid JSON.") from None


def parse_new_user(payload):
    """Return `{"username", "email"}` cleaned from `payload`, or raise."""
    if not isinstance(payload, dict):
        raise invalid("Send a JSON object with a username and an email.")
    if not payload:
        raise invalid("Send a username and an email.")
    user = {field: clean_text(field, payload.get(field)) for field in USER_FIELDS}
    check_email_shape(user["email"])
    return user


def clean_text(field, value):
    if value is None:
        raise invalid(f"{field} is required.")
    if not isinstance(value, str):
        raise invalid(f"{field} must be a string.")
    value = value.strip()
    if not value:
        raise invalid(f"{field} must not be empty.")
    if len(value) > NAME_LENGTH:
        raise invalid(f"{field} must be at most {NAME_LENGTH} characters.")
    if FORBIDDEN_CHARACTERS.search(value):
        raise invalid(f"{field} must not contain control characters.")
    return value


def check_email_shape(email):
    """Refuse an address email-validator refuses, with its reason.

    Checking a domain is most of what validating an address costs (a measurable part of a
    new user's throughput), and addresses share their domains: for a plain local part,
    the verdict on the domain, worked out once, is the verdict on the address.
    """
    local, at, domain = email.rpartition("@")
    if at and len(local) <= LOCAL_PART_LENGTH and PLAIN_LOCAL_PART.fullmatch(local):
        problem = domain_problem(domain)
    else:
        problem = address_problem(email)
    if problem:
        raise invalid(f"email is not a valid address: {problem}")


@functools.lru_cache(maxsize=1024)
def domain_problem(domain):
    """Say what email-validator finds wrong with `domain` after an @-sign, or None."""
    return address_problem(f"a@{domain}")


def address_problem(email):
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None
