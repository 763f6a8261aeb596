"""The `users` blueprint: the JSON API under /users and the HTML page at /."""

import itertools
import json

from flask import (Blueprint, Response, flash, redirect, render_template, request,
                   stream_with_context, url_for)

from project.api import store
from project.api.store import (create_user, find_user, parse_after, parse_limit,
                               user_batches, users_page)
from project.api.validation import parse_new_user, read_json_body
from project.errors import APIError

users_blueprint = Blueprint("users", __name__, template_folder="./templates")
AFTER_NOT_AN_ID = "after must be a user id."
BAD_AFTER = "That page does not exist: " + AFTER_NOT_AN_ID
BAD_LIMIT = f"limit must be a whole number from 1 to {store.MAX_API_PAGE}."
# Asking for either makes GET /users answer one page; without both it lists every user.
PAGE_PARAMETERS = ("limit", "after")


@users_blueprint.route("/users/ping", methods=["GET"])
def ping_pong():
    return {"status": "success", "message": "pong!"}


@users_blueprint.route("/users", methods=["POST"])
def add_user():
    fields = parse_new_user(read_json_body())
    create_user(**fields)
    return {"status": "success", "message": f"{fields['email']} was added!"}, 201


@users_blueprint.route("/users/<user_id>", methods=["GET"])
def get_single_user(user_id):
    user = find_user(user_id)
    if user is None:
        raise APIError("User does not exist", 404)
    return {"status": "success", "data": user}


@users_blueprint.route("/users", methods=["GET"])
def get_all_users():
    """List every user, as the course does; `?limit=` or `?after=` asks for one page."""
    if any(name in request.args for name in PAGE_PARAMETERS):
        return users_api_page(*page_parameters(request.args))
    return every_user()


def page_parameters(args):
    """Read `?after=` and `?limit=` as (after, size); a bad one is a 400 naming it."""
    size = parse_limit(args.get("limit"))
    if size is None:
        raise APIError(BAD_LIMIT)
    after = parse_after(args.get("after"))
    if after is None:
        raise APIError(AFTER_NOT_AN_ID)
    return after, size


def users_api_page(after, size):
    """Answer up to `size` users with ids above `after`; a `Link` names the next page.

    The cursor is the page's last id, so a page costs one keyset query wherever it
    starts, and users added meanwhile come at the end instead of shifting the pages.
    """
    users, more = users_page(after, size)
    headers = {"Link": next_link(users[-1]["id"], size)} if more else {}
    return {"status": "success", "data": {"users": users}}, headers


def next_link(last_id, size):
    """An RFC 8288 link to the page after `last_id`, on the host the client asked
    (ProxyFix gives the public one behind nginx)."""
    url = url_for("users.get_all_users", limit=size, after=last_id, _external=True)
    return f'<{url}>; rel="next"'


def every_user():
    """List every user: one body if they fit in a batch, else a batch at a time."""
    size = store.USERS_PER_BATCH
    batches = user_batches(size)
    # Read the first batch here: a database that fails now still gets its JSend error.
    first = next(batches, [])
    if len(first) < size:
        # The whole table: one write with a Content-Length, not chunks.
        batches.close()
        return Response("".join(users_json([first])), mimetype="application/json")
    # The rest is read as it is sent, after the view returns: keep the app context for it.
    rest = stream_with_context(users_json(itertools.chain([first], batches)))
    return Response(rest, mimetype="application/json")


def users_json(batches):
    """Yield `{"status": "success", "data": {"users": [...]}}` as jsonify writes it."""
    yield '{"data":{"users":['
    separator = ""
    for batch in batches:
        if batch:
            yield separator + compact_json(batch)[1:-1]
            separator = ","
    yield ']},"status":"success"}\n'


def compact_json(value):
    """Encode `value` as Flask does in production: sorted keys, ASCII, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@users_blueprint.route("/", methods=["GET", "POST"])
def index():
    """Show a page of users (`?after=<id>` for the next); a posted form adds one, then
    redirects (Post/Redirect/Get)."""
    after = parse_after(request.args.get("after"))
    if after is None:
        return render_page(0, error=BAD_AFTER), 400
    if request.method == "GET":
        return render_page(after)
    form = request.form.to_dict()
    try:
        fields = parse_new_user(form)
        create_user(**fields)
    except APIError as error:
        message = error.message if error.detail is None else error.detail
        return render_page(after, error=message, form=form), 400
    flash(f"{fields['email']} was added!")
    return redirect(url_for("users.index"))


def render_page(after, **context):
    """Render the page with the users after id `after`, and a link to the next ones."""
    users, more = users_page(after)
    next_after = users[-1]["id"] if more else None
    return render_template("index.html", users=users, next_after=next_after, **context)
