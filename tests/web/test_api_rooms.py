"""The room routes API clients (the CLI) use for conference control and transfers."""

from __future__ import annotations

from talkbox.web import Talkbox
from tests.web.conftest import Device, User
from tests.web.test_api import call_bob


def answered_call(alice: User, bob: User, tb: Talkbox) -> tuple[Device, Device, str, str, str]:
    """alice calls bob, who answers; returns the devices, the room and both legs."""
    a1, b1, view, bob_call = call_bob(alice, bob, tb)
    assert bob.post(f"/api/calls/{bob_call}/accept", {"device": b1.id}).status_code == 200
    bob.settle(tb)
    return a1, b1, view["conference_id"], view["call_id"], bob_call


def room(user: User, conf_id: str) -> dict[str, dict[str, object]]:
    data = user.get(f"/api/rooms/{conf_id}").json
    assert data is not None
    return {leg["endpoint"]: leg for leg in data["legs"]}


def test_add_mute_hold_remove_and_end(alice: User, bob: User, carol: User, tb: Talkbox) -> None:
    _a1, _b1, conf_id, _alice_call, bob_call = answered_call(alice, bob, tb)
    c1 = Device(tb, "carol", "device-c1")
    assert carol.get(f"/api/rooms/{conf_id}").status_code == 403  # not a party yet

    added = alice.post(f"/api/rooms/{conf_id}/participants", {"to": "carol"})
    assert added.status_code == 201, added.json
    carol_call = added.json["added_call_id"]  # type: ignore[index]
    (invite,) = c1.signals("invite")
    assert invite["call_id"] == carol_call
    assert carol.post(f"/api/calls/{carol_call}/accept", {"device": c1.id}).status_code == 200
    carol.settle(tb)
    assert room(alice, conf_id)["client:carol"]["joined"] is True

    base = f"/api/rooms/{conf_id}/participants"
    assert alice.post(f"{base}/{bob_call}/mute", {"muted": True}).status_code == 202
    assert alice.post(f"{base}/{carol_call}/hold", {"on_hold": True}).status_code == 202
    alice.settle(tb)
    legs = room(carol, conf_id)
    assert (legs["client:bob"]["muted"], legs["client:carol"]["on_hold"]) == (True, True)

    assert alice.post(f"{base}/{carol_call}/remove").status_code == 202
    alice.settle(tb)
    assert room(alice, conf_id)["client:carol"]["status"] == "completed"
    # Out of the room, carol may still read it but no longer manage it.
    assert room(carol, conf_id)["client:bob"]["muted"] is True
    assert carol.post(f"{base}/{bob_call}/mute", {"muted": False}).status_code == 403
    assert carol.post(f"/api/rooms/{conf_id}/end").status_code == 403

    assert alice.post(f"/api/rooms/{conf_id}/end").status_code == 202
    alice.settle(tb)
    assert alice.get(f"/api/rooms/{conf_id}").json["status"] == "ended"  # type: ignore[index]
    assert alice.post(f"/api/rooms/{conf_id}/end").status_code == 409


def test_room_errors(alice: User, bob: User, tb: Talkbox) -> None:
    _a1, _b1, conf_id, alice_call, _bob_call = answered_call(alice, bob, tb)
    assert alice.get("/api/rooms/conf_nope").status_code == 404
    base = f"/api/rooms/{conf_id}/participants"
    assert alice.post(f"{base}/call_nope/mute", {"muted": True}).status_code == 404
    assert alice.post(f"{base}/{alice_call}/mute", {"muted": "yes"}).status_code == 400
    bad = alice.post(base, {"to": "+1 555"})
    assert (bad.status_code, bad.json["error"]) == (400, "invalid-endpoint")  # type: ignore[index]
    assert alice.post(f"/api/rooms/{conf_id}/transfer/maybe").status_code == 404
    assert alice.post(f"/api/rooms/{conf_id}/transfer/complete").status_code == 409


def test_cold_and_warm_transfer(alice: User, bob: User, carol: User, tb: Talkbox) -> None:
    _a1, _b1, conf_id, alice_call, bob_call = answered_call(alice, bob, tb)
    c1 = Device(tb, "carol", "device-c1")
    assert bob.post(f"/api/calls/{alice_call}/transfer", {"to": "carol"}).status_code == 403

    warm = bob.post(f"/api/calls/{bob_call}/transfer", {"to": "carol", "warm": True})
    assert warm.status_code == 201, warm.json
    target = warm.json["target_call_id"]  # type: ignore[index]
    assert carol.post(f"/api/calls/{target}/accept", {"device": c1.id}).status_code == 200
    carol.settle(tb)
    assert room(bob, conf_id)["client:alice"]["on_hold"] is True
    assert bob.post(f"/api/rooms/{conf_id}/transfer/complete").status_code == 202
    bob.settle(tb)
    legs = room(alice, conf_id)
    assert legs["client:bob"]["status"] == "completed"
    assert legs["client:alice"]["on_hold"] is False
    assert legs["client:carol"]["joined"] is True
