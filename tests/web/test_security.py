"""Nobody acts as someone else, sees someone else's calls, or gets in without logging in."""

from __future__ import annotations

import pytest
from flask import Flask

from talkbox.web import Talkbox
from tests.web.conftest import PASSWORDS, Device, User

ROUTES = [
    ("GET", "/api/me"),
    ("GET", "/api/presence"),
    ("GET", "/api/calls"),
    ("POST", "/api/calls"),
    ("GET", "/api/calls/call_x"),
    ("POST", "/api/calls/call_x/hangup"),
    ("POST", "/api/calls/call_x/mute"),
    ("POST", "/api/calls/call_x/hold"),
    ("POST", "/api/calls/call_x/ringing"),
    ("POST", "/api/calls/call_x/accept"),
    ("POST", "/api/calls/call_x/reject"),
    ("POST", "/api/signal"),
    ("GET", "/api/history"),
    ("GET", "/api/stream?device=device-x1"),
    ("GET", "/api/tokens"),
    ("POST", "/api/tokens"),
    ("DELETE", "/api/tokens/tok_x"),
    ("POST", "/api/logout"),
    ("POST", "/api/devices/device-x1/away"),
]


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_not_logged_in_is_401_everywhere(app: Flask, method: str, url: str) -> None:
    response = app.test_client().open(url, method=method, json={})
    assert response.status_code == 401
    assert response.json == {"error": "unauthorized", "message": "log in first"}


@pytest.mark.parametrize(("method", "url"), [r for r in ROUTES if r[0] != "GET"])
def test_state_changes_without_csrf_token_are_refused(alice: User, method: str, url: str) -> None:
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        response = alice.client.open(url, method=method, json={}, headers=headers)
        assert response.status_code == 403, url
        assert response.json["error"] == "forbidden"  # type: ignore[index]


def test_malformed_json_is_400(alice: User) -> None:
    for data, content_type in [
        ("{not json", "application/json"),
        ("[1]", "application/json"),
        ("to=bob", "application/x-www-form-urlencoded"),
    ]:
        response = alice.post("/api/calls", data=data, content_type=content_type)
        assert response.status_code == 400
        assert response.json["error"] == "bad-request"  # type: ignore[index]
    login = alice.client.post("/api/login", data="{", content_type="application/json")
    assert login.status_code == 400


def test_alice_cannot_touch_bobs_call_with_carol(
    alice: User, bob: User, carol: User, tb: Talkbox
) -> None:
    b1, c1 = Device(tb, "bob", "device-b1"), Device(tb, "carol", "device-c1")
    a1 = Device(tb, "alice", "device-a1")
    view = bob.post("/api/calls", {"to": "carol", "device": b1.id}).json
    assert view is not None
    (invite,) = c1.signals("invite")
    carol.post(f"/api/calls/{invite['call_id']}/accept", {"device": c1.id})
    carol.settle(tb)
    for call_id in (view["call_id"], invite["call_id"]):
        assert alice.get(f"/api/calls/{call_id}").status_code == 403
        for action, body in [
            ("hangup", {}),
            ("mute", {"muted": True}),
            ("accept", {"device": a1.id}),
        ]:
            assert alice.post(f"/api/calls/{call_id}/{action}", body).status_code == 403
    relay = {"device": a1.id, "type": "offer", "leg": view["leg"], "to": view["leg"], "sdp": "x"}
    assert alice.post("/api/signal", relay).status_code == 403
    # bob cannot answer carol's leg either, though the room is his
    assert bob.post(f"/api/calls/{invite['call_id']}/hangup").status_code == 403
    assert alice.get("/api/calls").json["calls"] == []  # type: ignore[index]
    assert a1.events() == []  # nothing of bob's call reached alice's device


def test_alice_cannot_register_as_bob(alice: User, tb: Talkbox) -> None:
    """The stream's identity is the session's: a device id or parameter cannot change it."""
    response = alice.get("/api/stream?device=device-b1&user=bob", buffered=False)
    assert response.status_code == 200
    next(response.response)  # type: ignore[call-overload]  # the stream registered
    assert tb.hub.devices("bob") == []
    assert tb.hub.devices("alice") == ["device-b1"]
    response.close()
    assert tb.hub.devices("alice") == []


def test_a_stream_closed_before_it_started_unregisters(alice: User, tb: Talkbox) -> None:
    response = alice.get("/api/stream?device=device-a1", buffered=False)
    assert tb.hub.devices("alice") == ["device-a1"]
    response.close()  # never iterated
    assert tb.hub.devices("alice") == []


def test_password_guessing_is_throttled(app: Flask, tb: Talkbox) -> None:
    client = app.test_client()
    for _ in range(tb.login_throttle.limit):
        wrong = {"name": "bob", "password": "guess-guess"}
        assert client.post("/api/login", json=wrong).status_code == 401
    response = client.post("/api/login", json={"name": "bob", "password": PASSWORDS["bob"]})
    assert response.status_code == 429
    assert response.json["error"] == "too-many-attempts"  # type: ignore[index]
    tb.login_throttle.window = 0.0  # the window passes
    assert (
        client.post("/api/login", json={"name": "bob", "password": PASSWORDS["bob"]}).status_code
        == 200
    )


@pytest.mark.parametrize("failure", ["redis", "sqlite"])
def test_a_store_outage_is_a_503_to_retry_not_a_500(
    alice: User, tb: Talkbox, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    import sqlite3

    redis = pytest.importorskip("redis")
    error = (
        redis.ConnectionError("Connection refused")
        if failure == "redis"
        else sqlite3.OperationalError("database is locked")
    )

    def down(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(tb.store, "live", down)
    response = alice.get("/api/calls")
    assert response.status_code == 503
    assert response.json == {
        "error": "store-unavailable",
        "message": "the call store is not answering; retry",
    }
    assert response.headers["Retry-After"] == "1"
