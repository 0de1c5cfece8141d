"""Room operations over HTTP with the local provider: conferences, hold, transfer, digits,
simulated telephones and the browser token."""

from __future__ import annotations

from typing import Any

import pytest

from talkbox.web import Talkbox
from talkbox.web import api as api_module
from tests.web.conftest import Device, User


def room_of(user: User, call_id: str) -> str:
    """The room of a call the user can see (any party sees every leg's room)."""
    view = user.get(f"/api/calls/{call_id}").json
    assert view is not None
    return str(view["conference_id"])


def call(caller: User, callee: User, tb: Talkbox) -> tuple[Device, Device, str, str]:
    """``caller`` calls ``callee`` who accepts; returns both devices and both call ids."""
    d1 = Device(tb, caller.name, f"device-{caller.name}")
    d2 = Device(tb, callee.name, f"device-{callee.name}")
    view = caller.post("/api/calls", {"to": callee.name, "device": d1.id}).json
    assert view is not None
    (invite,) = d2.signals("invite")
    accepted = callee.post(f"/api/calls/{invite['call_id']}/accept", {"device": d2.id})
    assert accepted.status_code == 200, accepted.json
    caller.settle(tb)
    return d1, d2, view["call_id"], invite["call_id"]


def add(who: User, call_id: str, to: str, device: Device) -> tuple[str, Any]:
    """``who`` adds ``to`` (online as ``device``, which rings); returns the new call id and
    the invite."""
    added = who.post(f"/api/rooms/{room_of(who, call_id)}/participants", {"to": to})
    assert added.status_code == 201, added.json
    assert added.json is not None
    invite = device.signals("invite")[-1]
    assert invite["call_id"] == added.json["added_call_id"]
    return added.json["added_call_id"], invite


def test_a_third_person_joins_and_everyone_sees_the_room(
    alice: User, bob: User, carol: User, tb: Talkbox
) -> None:
    _a1, b1, alice_call, bob_call = call(alice, bob, tb)
    c1 = Device(tb, "carol", "device-carol")
    carol_call, _ = add(alice, alice_call, "carol", c1)
    answer = carol.post(f"/api/calls/{carol_call}/accept", {"device": c1.id}).json
    assert answer is not None
    # carol's browser connects to both others: the mesh.
    assert sorted(p["identity"] for p in answer["peers"]) == ["alice", "bob"]
    carol.settle(tb)
    room = alice.get(f"/api/calls/{alice_call}").json
    assert room is not None
    assert [(leg["endpoint"], leg["joined"]) for leg in room["legs"]] == [
        ("client:alice", True),
        ("client:bob", True),
        ("client:carol", True),
    ]
    # bob may add too, but may not remove carol: only the owner runs the room.
    denied = bob.post(f"/api/rooms/{room_of(alice, bob_call)}/participants/{carol_call}/remove")
    assert denied.status_code == 403
    assert (
        alice.post(
            f"/api/rooms/{room_of(alice, alice_call)}/participants/{carol_call}/remove"
        ).status_code
        == 202
    )
    alice.settle(tb)
    assert c1.signals("hangup")
    assert [m["from"] for m in b1.signals("peer-left")] == [answer["leg"]]
    room = alice.get(f"/api/calls/{alice_call}").json
    assert room is not None
    assert room["status"] == "active"


def test_the_owner_mutes_and_holds_others_and_hold_stops_media_both_ways(
    alice: User, bob: User, tb: Talkbox
) -> None:
    a1, b1, alice_call, bob_call = call(alice, bob, tb)
    assert (
        alice.post(
            f"/api/rooms/{room_of(alice, alice_call)}/participants/{bob_call}/mute", {"muted": True}
        ).status_code
        == 202
    )
    assert b1.signals("mute")[-1]["muted"] is True
    assert (
        bob.post(
            f"/api/rooms/{room_of(alice, bob_call)}/participants/{alice_call}/mute", {"muted": True}
        ).status_code
        == 403
    )
    assert (
        alice.post(
            f"/api/rooms/{room_of(alice, alice_call)}/participants/{bob_call}/hold",
            {"on_hold": True},
        ).status_code
        == 202
    )
    alice.settle(tb)
    assert b1.signals("hold")[-1]["on_hold"] is True  # bob stops sending and playing
    peer_hold = a1.signals("peer-hold")[-1]  # and alice stops sending to bob
    assert peer_hold["on_hold"] is True
    room = alice.get(f"/api/calls/{alice_call}").json
    assert room is not None
    bob_leg = next(leg for leg in room["legs"] if leg["call_id"] == bob_call)
    assert bob_leg["on_hold"]
    assert bob_leg["muted"]
    alice.post(
        f"/api/rooms/{room_of(alice, alice_call)}/participants/{bob_call}/hold", {"on_hold": False}
    )
    assert a1.signals("peer-hold")[-1]["on_hold"] is False


def test_the_mesh_limit_is_a_clear_conflict(
    alice: User, bob: User, tb: Talkbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_module, "MESH_LIMIT", 2)
    Device(tb, "carol", "device-carol")
    _, _, alice_call, _ = call(alice, bob, tb)
    full = alice.post(f"/api/rooms/{room_of(alice, alice_call)}/participants", {"to": "carol"})
    assert full.status_code == 409
    assert full.json is not None
    assert "at most 2 people" in full.json["message"]


def test_adding_someone_offline_or_unknown(alice: User, bob: User, tb: Talkbox) -> None:
    _, _, alice_call, _ = call(alice, bob, tb)
    offline = alice.post(f"/api/rooms/{room_of(alice, alice_call)}/participants", {"to": "carol"})
    assert offline.status_code == 409
    assert "offline" in offline.json["message"]
    unknown = alice.post(f"/api/rooms/{room_of(alice, alice_call)}/participants", {"to": "zed"})
    assert unknown.status_code == 404
    nobody = alice.post(
        f"/api/rooms/{room_of(alice, alice_call)}/participants", {"to": "+14155550199"}
    )
    assert nobody.status_code == 409
    assert "no simulated telephone has registered" in nobody.json["message"]  # type: ignore[index]
    transfer = alice.post(f"/api/calls/{alice_call}/transfer", {"to": "carol"})
    assert transfer.status_code == 409


def test_cold_transfer_leaves_the_caller_with_the_new_party(
    alice: User, bob: User, carol: User, tb: Talkbox
) -> None:
    _a1, b1, alice_call, bob_call = call(alice, bob, tb)
    c1 = Device(tb, "carol", "device-carol")
    moved = bob.post(f"/api/calls/{bob_call}/transfer", {"to": "carol"})
    assert moved.status_code == 201, moved.json
    bob.settle(tb)
    assert b1.signals("hangup")
    carol_call = c1.signals("invite")[-1]["call_id"]
    answer = carol.post(f"/api/calls/{carol_call}/accept", {"device": c1.id}).json
    assert answer is not None
    assert [p["identity"] for p in answer["peers"]] == ["alice"]
    carol.settle(tb)
    room = alice.get(f"/api/calls/{alice_call}").json
    assert room is not None
    assert room["status"] == "active"
    joined = [leg["endpoint"] for leg in room["legs"] if leg["joined"]]
    assert joined == ["client:alice", "client:carol"]


def test_warm_transfer_holds_the_caller_then_completes_or_cancels(
    alice: User, bob: User, carol: User, tb: Talkbox
) -> None:
    a1, b1, alice_call, bob_call = call(alice, bob, tb)
    c1 = Device(tb, "carol", "device-carol")
    assert (
        bob.post(f"/api/calls/{bob_call}/transfer", {"to": "carol", "warm": True}).status_code
        == 201
    )
    bob.settle(tb)
    assert a1.signals("hold")[-1]["on_hold"] is True
    room = alice.get(f"/api/calls/{alice_call}").json
    assert room is not None
    assert room["transfer"]["by_call_id"] == bob_call
    # Only the transferor finishes it.
    assert alice.post(f"/api/rooms/{room_of(alice, alice_call)}/transfer/cancel").status_code == 403
    carol_call = c1.signals("invite")[-1]["call_id"]
    carol.post(f"/api/calls/{carol_call}/accept", {"device": c1.id})
    carol.settle(tb)
    assert bob.post(f"/api/rooms/{room_of(alice, bob_call)}/transfer/complete").status_code == 202
    bob.settle(tb)
    assert a1.signals("hold")[-1]["on_hold"] is False
    assert b1.signals("hangup")
    room = alice.get(f"/api/calls/{alice_call}").json
    assert room is not None
    assert room["transfer"] is None
    assert [leg["endpoint"] for leg in room["legs"] if leg["joined"]] == [
        "client:alice",
        "client:carol",
    ]


def test_warm_transfer_cancelled_returns_to_the_caller(
    alice: User, bob: User, carol: User, tb: Talkbox
) -> None:
    a1, _b1, alice_call, bob_call = call(alice, bob, tb)
    c1 = Device(tb, "carol", "device-carol")
    bob.post(f"/api/calls/{bob_call}/transfer", {"to": "carol", "warm": True})
    bob.settle(tb)
    assert bob.post(f"/api/rooms/{room_of(alice, bob_call)}/transfer/cancel").status_code == 202
    bob.settle(tb)
    assert c1.signals("stop-ringing")
    assert a1.signals("hold")[-1]["on_hold"] is False
    room = alice.get(f"/api/calls/{alice_call}").json
    assert room is not None
    assert [leg["endpoint"] for leg in room["legs"] if leg["joined"]] == [
        "client:alice",
        "client:bob",
    ]


def test_digits_reach_the_other_devices(alice: User, bob: User, tb: Talkbox) -> None:
    a1, b1, alice_call, _ = call(alice, bob, tb)
    sent = alice.post(f"/api/calls/{alice_call}/digits", {"digits": "12#", "device": a1.id})
    assert sent.status_code == 202
    assert sent.json == {"digits": "12#", "devices": 1}
    (dtmf,) = b1.signals("dtmf")
    assert dtmf["digits"] == "12#"
    assert dtmf["identity"] == "alice"
    bad = alice.post(f"/api/calls/{alice_call}/digits", {"digits": "12x", "device": a1.id})
    assert bad.status_code == 400


def test_a_simulated_telephone_calls_alice_and_alice_calls_it(
    alice: User, carol: User, tb: Talkbox
) -> None:
    number = "+14155550100"
    assert carol.post("/api/phones", {"number": "(415) 555-0100"}).json == {
        "number": number,
        "simulated": True,
    }
    phone = Device(tb, number, "device-phone")
    a1 = Device(tb, "alice", "device-alice")
    as_phone = {"headers": {"X-Talkbox-Phone": number}}
    view = carol.post("/api/calls", {"to": "alice", "device": phone.id}, **as_phone).json
    assert view is not None
    assert view["owner"] == number
    invite = a1.signals("invite")[-1]
    assert invite["from"] == number
    alice.post(f"/api/calls/{invite['call_id']}/accept", {"device": a1.id})
    alice.settle(tb)
    assert "participant-joined" in phone.events()  # the phone's stream gets its room's events
    carol.post(f"/api/calls/{view['call_id']}/hangup", **as_phone)
    alice.settle(tb)

    view = alice.post("/api/calls", {"to": number, "device": a1.id}).json
    assert view is not None
    alice.settle(tb)
    ring = phone.signals("invite")[-1]
    assert ring["from"] == "client:alice"
    answer = carol.post(f"/api/calls/{ring['call_id']}/accept", {"device": phone.id}, **as_phone)
    assert answer.status_code == 200, answer.json
    # Someone else's session cannot act as carol's telephone.
    stolen = alice.post(f"/api/calls/{ring['call_id']}/hangup", headers={"X-Talkbox-Phone": number})
    assert stolen.status_code == 403


def test_calling_an_unregistered_number_fails_clearly(alice: User, tb: Talkbox) -> None:
    a1 = Device(tb, "alice", "device-alice")
    alice.post("/api/calls", {"to": "+14155550199", "device": a1.id})
    alice.settle(tb)
    failed = [m for k, m in a1.read() if k == "call" and m["type"] == "command-failed"]
    assert failed
    assert "no simulated telephone has registered" in failed[-1]["message"]


def test_voice_token_for_the_local_provider(alice: User) -> None:
    data = alice.get("/api/voice-token").json
    assert data is not None
    assert data["provider"] == "local"
    assert data["identity"] == "alice"


def test_a_simulated_telephone_only_makes_and_takes_calls(carol: User, tb: Talkbox) -> None:
    number = "+14155550100"
    carol.post("/api/phones", {"number": number})
    as_phone = {"headers": {"X-Talkbox-Phone": number}}
    assert carol.post("/api/tokens", {"label": "x"}, **as_phone).status_code == 403
    assert carol.get("/api/voice-token", **as_phone).status_code == 403
    assert carol.get("/api/me", **as_phone).json["endpoint"] == number  # type: ignore[index]
    assert carol.get("/api/me", headers={"X-Talkbox-Phone": "+14155550111"}).status_code == 403
