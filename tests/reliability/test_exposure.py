"""Production as served, with every debug switch set in its environment, exposes nothing."""

from harness import request

DEBUG_ENVIRONMENT = {"FLASK_DEBUG": "1", "FLASK_ENV": "development", "DEBUG_TB_ENABLED": "1"}


def test_debug_switches_do_nothing_in_production(serve, metrics):
    with serve("exposure", workers=1, **DEBUG_ENVIRONMENT) as (server, _):
        base = server.base_url
        page = request("GET", base + "/")
        toolbar = request("GET", base + "/_debug_toolbar/static/css/toolbar.css")
        console = request("GET", base + "/console")
        foreign = request("GET", base + "/users/ping", headers={"Origin": "http://evil.example"})
        log = server.log_text()

    assert page.status == 200
    assert b"flDebug" not in page.body and b"_debug_toolbar" not in page.body
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    for response in (toolbar, console):
        assert response.status == 404
        body = response.json()
        assert body["status"] == "fail" and set(body) == {"status", "message"}
        assert b"Traceback" not in response.body
    assert foreign.status == 200
    assert foreign.headers["Access-Control-Allow-Origin"] is None
    assert "never runs the debugger" in log
    metrics["exposure"] = {"debug_switches_set": len(DEBUG_ENVIRONMENT), "toolbar_served": 0,
                           "console_served": 0, "cors_for_unlisted_origin": 0}
