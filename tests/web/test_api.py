"""Every API route through the Flask test client, with the local provider behind it."""

from __future__ import annotations

from typing import Any

from flask import Flask

from talkbox.web import Talkbox
from tests.fakes import ManualTimers
from tests.web.conftest import PASSWORDS, Device, User


def call_bob(alice: User, bob: User, tb: Talkbox) -> tuple[Device, Device, dict[str, Any], str]:
    """alice (device a1) calls bob (device b1); returns the devices, alice's view, bob's leg."""
    a1, b1 = Device(tb, "alice", "device-a1"), Device(tb, "bob", "device-b1")
    response = alice.post("/api/calls", {"to": "bob", "device": a1.id})
    assert response.status_code == 201, response.json
    view = response.json
    assert view is not None
    (invite,) = b1.signals("invite")
    return a1, b1, view, invite["call_id"]


def test_login_me_logout(app: Flask) -> None:
    client = app.test_client()
    bad = client.post("/api/login", json={"name": "alice", "password": "wrong-password"})
    assert bad.status_code == 401
    assert bad.json == {
        "error": "unauthorized",
        "message": "wrong user name or password",
    }
    assert (
        client.post("/api/login", json={"name": "nobody", "password": "x" * 9}).status_code == 401
    )
    ok = client.post("/api/login", json={"name": "alice", "password": PASSWORDS["alice"]})
    assert ok.status_code == 200
    assert ok.json is not None
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    me = client.get("/api/me").json
    assert me == {
        "user": "alice",
        "endpoint": "client:alice",
        "csrf_token": ok.json["csrf_token"],
        "provider": "local",
    }
    out = client.post("/api/logout", headers={"X-CSRF-Token": ok.json["csrf_token"]})
    assert out.status_code == 204
    assert client.get("/api/me").status_code == 401


def test_presence(alice: User, tb: Talkbox) -> None:
    Device(tb, "bob", "device-b1")
    data = alice.get("/api/presence").json
    assert data == {
        "users": [
            {"name": "alice", "online": False},
            {"name": "bob", "online": True},
            {"name": "carol", "online": False},
        ],
        "online": ["bob"],
    }


def test_call_answered_muted_and_hung_up(alice: User, bob: User, tb: Talkbox) -> None:
    a1, b1, view, bob_call = call_bob(alice, bob, tb)
    assert view["direction"] == "outgoing"
    assert view["leg"].startswith("leg_")
    assert [leg["endpoint"] for leg in view["legs"]] == ["client:alice", "client:bob"]
    my_call = view["call_id"]

    assert bob.post(f"/api/calls/{bob_call}/ringing", {"device": b1.id}).status_code == 202
    accepted = bob.post(f"/api/calls/{bob_call}/accept", {"device": b1.id})
    assert accepted.status_code == 200
    assert accepted.json is not None
    assert accepted.json["peers"] == [{"leg": view["leg"], "identity": "alice", "on_hold": False}]
    bob.settle(tb)

    calls = bob.get("/api/calls").json
    assert calls is not None
    assert len(calls["calls"]) == 1
    room = calls["calls"][0]
    assert room["direction"] == "incoming"
    assert room["call_id"] == bob_call
    assert room["status"] == "active"
    assert all(leg["joined"] for leg in room["legs"])
    assert alice.get(f"/api/calls/{bob_call}").json == bob.get(f"/api/calls/{bob_call}").json | {
        "direction": "outgoing",
        "call_id": my_call,
    }

    signal = {"device": b1.id, "type": "offer", "leg": accepted.json["leg"], "to": view["leg"]}
    assert bob.post("/api/signal", signal | {"sdp": "v=0"}).status_code == 204
    assert a1.signals("offer")[0]["sdp"] == "v=0"

    assert alice.post(f"/api/calls/{my_call}/mute", {"muted": True}).status_code == 202
    assert "participant-muted" in b1.events()
    assert alice.post(f"/api/calls/{my_call}/hold", {"on_hold": True}).status_code == 202
    assert "participant-held" in b1.events()

    assert bob.post(f"/api/calls/{bob_call}/hangup").status_code == 202
    bob.settle(tb)
    assert "conference-ended" in a1.events()
    assert a1.signals()[-1]["type"] == "hangup"
    assert alice.get("/api/calls").json["calls"] == []  # type: ignore[index]
    history = alice.get("/api/history").json
    assert history is not None
    (ended,) = history["calls"]
    assert ended["reason"] == "completed"
    assert ended["parties"] == ["client:alice", "client:bob"]
    assert alice.post(f"/api/calls/{my_call}/hangup").status_code == 409


def test_reject(alice: User, bob: User, tb: Talkbox) -> None:
    a1, b1, _view, bob_call = call_bob(alice, bob, tb)
    assert bob.post(f"/api/calls/{bob_call}/reject", {"device": b1.id}).status_code == 202
    bob.settle(tb)
    assert a1.signals()[-1]["type"] == "hangup"
    ended = alice.get("/api/history").json["calls"][0]  # type: ignore[index]
    assert ended["reason"] == "rejected"
    assert ended["party"] == "client:bob"


def test_no_answer(alice: User, bob: User, tb: Talkbox, timers: ManualTimers) -> None:
    call_bob(alice, bob, tb)
    timers.fire(30)
    bob.settle(tb)
    ended = alice.get("/api/history").json["calls"][0]  # type: ignore[index]
    assert ended["reason"] == "no-answer"


def test_dial_errors(alice: User, tb: Talkbox) -> None:
    a1 = Device(tb, "alice", "device-a1")
    cases = [
        ({"to": "bob", "device": a1.id}, 409, "offline"),
        ({"to": "zed", "device": a1.id}, 404, "not-found"),
        ({"to": "alice", "device": a1.id}, 400, "bad-request"),
        ({"to": "client:b@d"}, 400, "invalid-endpoint"),
        ({"to": 5}, 400, "bad-request"),
        ({}, 400, "bad-request"),
        ({"to": "carol", "device": "x"}, 400, "bad-request"),
    ]
    Device(tb, "carol", "device-c1")
    for payload, status, error in cases:
        response = alice.post("/api/calls", payload)
        assert (response.status_code, response.json["error"]) == (status, error), payload  # type: ignore[index]
    unknown_device = alice.post("/api/calls", {"to": "carol", "device": "not-connected"})
    assert unknown_device.status_code == 409


def test_api_dial_without_device_rings_the_caller_first(alice: User, tb: Talkbox) -> None:
    a1, c1 = Device(tb, "alice", "device-a1"), Device(tb, "carol", "device-c1")
    response = alice.post("/api/calls", {"to": "client:carol"})
    assert response.status_code == 201
    (invite,) = a1.signals("invite")
    assert invite["call_id"] == response.json["call_id"]  # type: ignore[index]
    assert c1.signals() == []


def test_unknown_ids_and_routes(alice: User) -> None:
    for url in ["/api/calls/call_nope", "/api/nothing-here"]:
        response = alice.get(url)
        assert response.status_code == 404
        assert response.json["error"] in ("not-found",)
    assert alice.post("/api/calls/call_nope/hangup").status_code == 404
    assert alice.client.put("/api/calls", headers={"X-CSRF-Token": alice.csrf}).status_code == 405
    assert alice.get("/api/history?limit=0").status_code == 400


def test_tokens(alice: User, app: Flask) -> None:
    created = alice.post("/api/tokens", {"label": "cli"})
    assert created.status_code == 201
    assert created.json is not None
    secret, token_id = created.json["token"], created.json["id"]
    api_client = app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api_client.get("/api/me", headers=bearer).json["user"] == "alice"  # type: ignore[index]
    # A token needs no CSRF header: browsers never send it on their own.
    response = api_client.post("/api/calls", json={"to": "bob"}, headers=bearer)
    assert response.status_code == 409  # bob is offline, but the request was authorised
    listed = alice.get("/api/tokens").json["tokens"]  # type: ignore[index]
    assert [t["id"] for t in listed] == [token_id]
    assert "token" not in listed[0]
    assert (
        alice.client.delete(
            f"/api/tokens/{token_id}", headers={"X-CSRF-Token": alice.csrf}
        ).status_code
        == 204
    )
    assert api_client.get("/api/me", headers=bearer).status_code == 401
    assert api_client.get("/api/me", headers={"Authorization": "Basic x"}).status_code == 401


def test_mounts_in_an_existing_app() -> None:
    from talkbox.config import Settings
    from talkbox.store import MemoryStore

    host = Flask("host")
    host.config["SECRET_KEY"] = "k"
    tb = Talkbox.from_config(host.config, Settings(store="memory"), store=MemoryStore())
    tb.init_app(host, url_prefix="/phone")
    try:
        assert host.config["SESSION_COOKIE_SAMESITE"] == "Lax"
        response = host.test_client().get("/phone/me")
        assert response.status_code == 401
        assert response.json == {"error": "unauthorized", "message": "log in first"}
        assert host.test_client().get("/elsewhere").status_code == 404  # not turned into JSON
        assert host.test_client().get("/elsewhere").json is None
    finally:
        tb.close()


def test_user_names_with_digits_are_users(app: Flask, alice: User, tb: Talkbox) -> None:
    tb.accounts.create_user("bob2", "long-enough")
    Device(tb, "bob2", "device-b2")
    response = alice.post(
        "/api/calls", {"to": "bob2", "device": Device(tb, "alice", "dev-a1xx").id}
    )
    assert response.status_code == 201
    assert response.json["legs"][1]["endpoint"] == "client:bob2"  # type: ignore[index]


def test_api_dial_when_the_caller_has_no_device_is_409(alice: User, tb: Talkbox) -> None:
    Device(tb, "bob", "device-b1")
    response = alice.post("/api/calls", {"to": "bob"})
    assert response.status_code == 409
    assert response.json == {"error": "offline", "message": "alice is offline"}


def test_the_openapi_file_lists_every_route(app: Flask) -> None:
    import json
    import re
    from pathlib import Path

    spec = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    served = {
        (method, "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/")))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("talkbox_api.")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert documented == served


def test_early_offer_through_the_api(alice: User, bob: User, tb: Talkbox) -> None:
    a1, b1 = Device(tb, "alice", "device-a1"), Device(tb, "bob", "device-b1")
    too_long = "v" * 70_000
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}
    for bad in (
        {"offer": ""},
        {"offer": 7},
        {"offer": too_long},
        {"offer": "v=0 o", "candidates": "all"},
        {"offer": "v=0 o", "candidates": [candidate] * 33},
        {"offer": "v=0 o", "candidates": [{"candidate": 1}]},
        {"offer": "v=0 o", "candidates": [{**candidate, "sdpMLineIndex": "0"}]},
    ):
        refused = alice.post("/api/calls", {"to": "bob", "device": a1.id, **bad})
        assert refused.status_code == 400, refused.json
    assert tb.switchboard.live() == []  # a refused offer placed no call
    view = alice.post(
        "/api/calls", {"to": "bob", "device": a1.id, "offer": "v=0 o", "candidates": [candidate]}
    ).json
    assert view is not None
    (invite,) = b1.signals("invite")
    assert invite["offer"] == {
        "from": view["leg"],
        "sdp": "v=0 o",
        "candidates": [{**candidate, "sdpMLineIndex": None}],
    }
    refused = bob.post(f"/api/calls/{invite['call_id']}/accept", {"device": b1.id, "answer": 1})
    assert refused.status_code == 400
    taken = bob.post(f"/api/calls/{invite['call_id']}/accept", {"device": b1.id, "answer": "v=0 a"})
    assert taken.status_code == 200, taken.json
    assert taken.json["answered"] == view["leg"]  # type: ignore[index]
    (answer,) = a1.signals("answer")
    assert answer["sdp"] == "v=0 a"
