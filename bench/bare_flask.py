"""A bare Flask app that answers only the ping, as the service does: Flask's own cost.

No Flask app can answer `GET /users/ping` for less than this one, so next to the floor
it shows how much of a ping target Flask itself leaves. bench/run.py serves it beside
the service and the floor; bench/inprocess.py calls it in-process.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/users/ping")
def ping():
    return {"status": "success", "message": "pong!"}
