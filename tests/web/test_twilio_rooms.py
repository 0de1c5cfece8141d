"""The softphone's room routes in Twilio mode: the same HTTP calls as with the local provider
become the documented Twilio REST requests (faked with ``responses``), with the room itself
driven by signed webhooks. Transfers in Twilio mode are covered elsewhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from talkbox.web import Talkbox
from tests.twilio_sim import FakeTwilio, call_sid, conference_sid
from tests.twilio_world import World
from tests.web.test_twilio_flows import answers, browser_calls, joins, rest

PASSWORD = "twilio-rooms-pw"
CAROL_PHONE = "+14155552673"


class Browser:
    """A logged-in user of the API on the World's app."""

    def __init__(self, client: FlaskClient, name: str) -> None:
        self.client = client
        login = client.post("/api/login", json={"name": name, "password": PASSWORD})
        assert login.status_code == 200, login.json
        self.csrf = login.json["csrf_token"]  # type: ignore[index]

    def post(self, url: str, json: object = None) -> tuple[int, object]:
        response = self.client.post(url, json=json or {}, headers={"X-CSRF-Token": self.csrf})
        return response.status_code, response.json


@pytest.fixture
def world() -> Iterator[World]:
    with FakeTwilio().running() as twilio:
        world = World(twilio)
        # The API on the same app and switchboard as Twilio's webhooks (test wiring only).
        tb = Talkbox(world.board.store, world.provider)
        tb.switchboard = world.board
        world.app.config["SECRET_KEY"] = "test"
        tb.init_app(world.app)
        tb.accounts.hash_method = "pbkdf2:sha256:1000"
        for name in ("alice", "bob"):
            tb.accounts.create_user(name, PASSWORD)
        yield world
        tb.close()


def test_room_operations_become_twilio_requests(world: World) -> None:
    room, alice_leg, bob_leg = browser_calls(world, "client:bob")
    for delivery in [*joins(world, room, alice_leg), *answers(world, room, bob_leg)]:
        world.deliver(delivery)
    conf = world.board.get(world.conf_id)
    alice_call, bob_call = conf.calls[0].id, conf.calls[1].id
    alice = Browser(world.app.test_client(), "alice")
    cf = conference_sid(world.conf_id)
    bob_participant = f"/Conferences/{cf}/Participants/{call_sid(1)}.json"

    rooms = f"/api/rooms/{world.conf_id}/participants"
    status, body = alice.post(rooms, {"to": CAROL_PHONE})
    assert status == 201, body
    added = [r for r in rest(world) if r[0] == "POST" and r[2].get("To") == [CAROL_PHONE]]
    assert added, rest(world)
    assert added[0][1] == f"/Conferences/{world.conf_id}/Participants.json"

    assert alice.post(f"{rooms}/{bob_call}/mute", {"muted": True})[0] == 202
    assert ("POST", bob_participant, {"Muted": ["true"]}) in rest(world)
    assert alice.post(f"{rooms}/{bob_call}/hold", {"on_hold": True})[0] == 202
    assert ("POST", bob_participant, {"Hold": ["true"]}) in rest(world)
    assert alice.post(f"{rooms}/{bob_call}/remove")[0] == 202
    assert ("DELETE", bob_participant, {}) in rest(world)

    bob = Browser(world.app.test_client(), "bob")
    status, _ = bob.post(f"{rooms}/{alice_call}/remove")
    assert status == 403  # only the owner removes others


def test_twilio_mode_gives_a_voice_token_and_refuses_simulated_phones(world: World) -> None:
    alice = Browser(world.app.test_client(), "alice")
    token = alice.client.get("/api/voice-token").json
    assert token is not None
    assert token["provider"] == "twilio"
    assert token["identity"] == "alice"
    assert token["token"].count(".") == 2  # a signed JWT
    status, body = alice.post("/api/phones", {"number": "+14155550100"})
    assert status == 409, body
    status, body = alice.post(f"/api/calls/{'call_x'}/digits", {"digits": "1", "device": "d" * 8})
    assert status in (404, 409), body
