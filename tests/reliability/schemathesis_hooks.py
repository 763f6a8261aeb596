"""Schemathesis hooks (SCHEMATHESIS_HOOKS): let generated users be new often enough.

Hypothesis favours small values, so most generated users are "0" with some address, and
after the first one every POST is a duplicate (a 400, correctly). To fuzz the accepting
path as well, every other user body gets a number appended to its username and to its
email's local part; the others are sent exactly as generated, duplicates and all.
"""

import itertools

import schemathesis

_cases = itertools.count()


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not (isinstance(body, dict) and isinstance(body.get("username"), str)
            and isinstance(body.get("email"), str) and "@" in body["email"]):
        return
    number = next(_cases)
    if number % 2:
        return
    local, _, domain = body["email"].rpartition("@")
    body["username"] = f"{body['username']}{number}"
    body["email"] = f"{local}+{number}@{domain}"
