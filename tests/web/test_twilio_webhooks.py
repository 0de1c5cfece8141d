"""The webhook blueprint's edges: signatures over the public URL, field validation, TwiML."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from talkbox.errors import ConfigError
from talkbox.model import CallStatus, ConferenceStatus
from talkbox.providers.twilio import WebhookUrls, call_report
from talkbox.switchboard import Applied
from talkbox.web import twilio_blueprint
from tests.twilio_sim import (
    OUR_NUMBER,
    PUBLIC_URL,
    Delivery,
    FakeTwilio,
    Leg,
    Room,
    call_sid,
    inbound_sid,
    joined,
    parse_twiml,
    post,
    sign,
    voice,
)
from tests.twilio_world import World


@pytest.fixture
def world() -> Iterator[World]:
    with FakeTwilio().running() as twilio:
        yield World(twilio)


def status_of(world: World, sid: str) -> CallStatus:
    conf = world.board.get(world.conf_id)
    call = conf.call_by_provider_id(sid)
    assert call is not None
    return call.status


def open_call(world: World) -> Leg:
    response = world.post(voice(inbound_sid(1), "client:alice", "client:bob"))
    world.conf_id = joined(response.data).room
    return Leg(inbound_sid(1), "client:alice", "client:bob")


# -- signatures ---------------------------------------------------------------------------------
def test_twilios_documented_example_signature() -> None:
    """The test vector of Twilio's own SDKs (twilio-csharp RequestValidatorTest)."""
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sign(url, params, token="12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_unsigned_request_is_400(world: World) -> None:
    delivery = Leg(call_sid(1), "a", "b", "call_0000000000000001").status("ringing", 1.0)
    response = world.client.post(delivery.path + "?" + delivery.query, data=dict(delivery.params))
    assert response.status_code == 400
    assert response.get_json() == {"error": "missing X-Twilio-Signature header"}


def test_forged_signature_is_403(world: World) -> None:
    delivery = Leg(call_sid(1), "a", "b").status("ringing", 1.0)
    forged = sign(delivery.url, delivery.params, token="not-the-auth-token")
    response = world.post(delivery, signature=forged)
    assert response.status_code == 403
    assert response.get_json() == {"error": "invalid X-Twilio-Signature"}


def test_replay_with_changed_params_is_403(world: World) -> None:
    leg = open_call(world)
    genuine = leg.status("completed", world.t(), duration=5)
    signature = sign(genuine.url, genuine.params)
    tampered = Delivery(genuine.path, {**genuine.params, "CallStatus": "busy"}, genuine.query)
    assert world.post(tampered, signature=signature).status_code == 403
    other_query = Delivery(genuine.path, genuine.params, "call=call_ffffffffffffffff")
    assert world.post(other_query, signature=signature).status_code == 403
    assert status_of(world, leg.sid) is CallStatus.RINGING  # nothing applied


def test_replaying_a_genuine_request_changes_nothing(world: World) -> None:
    leg = open_call(world)
    room = Room(world.conf_id)
    join = room.event("participant-join", world.t(), Leg(leg.sid, "", "", label=None))
    assert world.post(join).status_code == 204
    before = world.board.get(world.conf_id)
    assert world.post(join).status_code == 204
    assert world.board.get(world.conf_id) == before


def test_signature_uses_the_public_url_not_the_request_url(world: World) -> None:
    """Behind a proxy Flask sees http://localhost/...; Twilio signed https://public/..."""
    leg = open_call(world)
    delivery = leg.status("completed", world.t(), duration=3)
    local = "http://localhost" + delivery.path
    response = world.post(delivery, signature=sign(local, delivery.params))
    assert response.status_code == 403
    assert world.post(delivery).status_code == 204


def test_public_url_with_a_port_is_accepted(world: World) -> None:
    """RequestValidator also accepts the URL with the default port Twilio may have used."""
    delivery = Leg(call_sid(9), "a", "b").status("ringing", 1.0)
    url = PUBLIC_URL.replace(".com", ".com:443") + delivery.path
    assert world.post(delivery, signature=sign(url, delivery.params)).status_code == 204


# -- malformed requests -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"CallSid": ""}, "missing CallSid"),
        ({"CallSid": "CA123"}, "malformed CallSid: 'CA123'"),
        ({"CallStatus": ""}, "missing CallStatus"),
        ({"CallStatus": "exploded"}, "unknown CallStatus 'exploded'"),
        ({"SequenceNumber": "-1"}, "malformed SequenceNumber: '-1'"),
        ({"Timestamp": "yesterday"}, "malformed Timestamp: 'yesterday'"),
        ({"CallDuration": "long"}, "malformed CallDuration: 'long'"),
        ({"SequenceNumber": "²"}, "malformed SequenceNumber: '²'"),
        ({"CallDuration": "³"}, "malformed CallDuration: '³'"),
    ],
)
def test_malformed_call_status_is_400_with_a_reason(
    world: World, change: dict[str, str], reason: str
) -> None:
    good = Leg(call_sid(1), "client:a", "client:b").status("completed", 1.0, duration=4)
    bad = Delivery(good.path, {**good.params, **change}, good.query)
    response = world.post(bad)
    assert response.status_code == 400
    assert response.get_json() == {"error": reason}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"StatusCallbackEvent": ""}, "missing StatusCallbackEvent"),
        ({"ConferenceSid": "nope"}, "malformed ConferenceSid: 'nope'"),
        ({"CallSid": ""}, "missing CallSid"),
        ({"Muted": "maybe"}, "malformed Muted: 'maybe'"),
    ],
)
def test_malformed_conference_status_is_400(
    world: World, change: dict[str, str], reason: str
) -> None:
    good = Room("conf_0123456789abcdef").event("participant-mute", 1.0, Leg(call_sid(1), "", ""))
    response = world.post(Delivery(good.path, {**good.params, **change}, good.query))
    assert response.status_code == 400
    assert response.get_json() == {"error": reason}


def test_malformed_query_id_is_400(world: World) -> None:
    delivery = Delivery(
        "/twilio/call-status",
        Leg(call_sid(1), "", "").status("ringing", 1).params,
        "call=../../etc",
    )
    assert world.post(delivery).status_code == 400


def test_untracked_conference_events_are_accepted_and_ignored(world: World) -> None:
    room = Room("conf_0123456789abcdef")
    delivery = room.event("participant-speech-start", 1.0, Leg(call_sid(1), "", ""))
    assert world.post(delivery).status_code == 204


def test_voice_without_call_sid_is_400(world: World) -> None:
    delivery = voice("", "client:alice", "client:bob")
    assert world.post(delivery).status_code == 400


def test_status_for_an_unknown_leg_is_accepted(world: World) -> None:
    """It may be about a leg whose creation has not returned yet: parked, not refused."""
    delivery = Leg(call_sid(5), "client:a", "client:b").status("ringing", 1.0)
    assert world.post(delivery).status_code == 204
    assert world.board.apply(call_report(delivery.params)) is Applied.PARKED


# -- voice TwiML --------------------------------------------------------------------------------
def test_browser_call_joins_its_room_and_records_the_callee(world: World) -> None:
    response = world.post(voice(inbound_sid(1), "client:alice", "client:bob"))
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    twiml = joined(response.data)
    conf = world.board.get(twiml.room)
    assert twiml.label == conf.caller.id
    assert twiml.callback == f"{PUBLIC_URL}/twilio/conference-status?conference={conf.id}"
    assert twiml.events == "start end join leave mute hold modify"
    dial_conf = parse_twiml(response.data).find("./Dial/Conference")
    assert dial_conf is not None
    assert dial_conf.get("beep") == "false"
    assert dial_conf.get("endConferenceOnExit") == "false"
    assert [(str(c.endpoint), c.status, c.provider_id) for c in conf.calls] == [
        ("client:alice", CallStatus.RINGING, inbound_sid(1)),
        ("client:bob", CallStatus.QUEUED, None),
    ]
    assert world.twilio.sent == []  # bob is dialled once alice is in the room


def test_a_retried_voice_webhook_does_not_open_a_second_room(world: World) -> None:
    first = joined(world.post(voice(inbound_sid(1), "client:alice", "client:bob")).data)
    again = joined(world.post(voice(inbound_sid(1), "client:alice", "client:bob")).data)
    assert first == again
    assert len(world.board.live()) == 1


def test_a_voice_webhook_retried_after_its_room_ended_hangs_up(world: World) -> None:
    leg = open_call(world)
    assert world.post(leg.status("completed", world.t(), duration=0)).status_code == 204
    assert world.board.get(world.conf_id).status is ConferenceStatus.ENDED
    again = world.post(voice(inbound_sid(1), "client:alice", "client:bob"))
    assert [child.tag for child in parse_twiml(again.data)] == ["Hangup"]


def test_browser_call_to_an_invalid_number_is_told_so(world: World) -> None:
    response = world.post(voice(inbound_sid(1), "client:alice", "12"))
    root = parse_twiml(response.data)
    assert response.status_code == 200
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert world.board.live() == []


def test_a_leg_we_placed_joins_its_room_when_answered(world: World) -> None:
    conf = world.board.dial("client:alice", "client:bob")
    alice = conf.caller
    (placed,) = world.twilio.sent
    url = placed.one("Url")
    query = url.split("?", 1)[1]
    response = world.post(
        voice(
            str(alice.provider_id),
            "+14155552671",
            "client:alice",
            query=query,
            status="in-progress",
        )
    )
    twiml = joined(response.data)
    assert (twiml.room, twiml.label) == (conf.id, alice.id)


def test_a_leg_answered_after_its_room_ended_is_hung_up(world: World) -> None:
    conf = world.board.dial("client:alice", "client:bob")
    world.board.end_conference(conf.id)
    query = world.twilio.sent[0].one("Url").split("?", 1)[1]
    response = world.post(voice(call_sid(1), "+14155552671", "client:alice", query=query))
    assert [child.tag for child in parse_twiml(response.data)] == ["Hangup"]


def test_unknown_room_in_voice_query_says_sorry(world: World) -> None:
    response = world.post(voice(call_sid(1), "x", "y", query="conference=conf_0000000000000000"))
    assert [child.tag for child in parse_twiml(response.data)] == ["Say", "Hangup"]


def test_phone_call_to_a_number_nobody_owns(world: World) -> None:
    response = world.post(voice(inbound_sid(1), "+14155552673", "+14155552699"))
    root = parse_twiml(response.data)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "not in service" in (root[0].text or "")
    assert world.board.live() == []


def test_phone_call_when_nobody_is_online() -> None:
    with FakeTwilio().running() as twilio:
        world = World(twilio, is_online=lambda identity: False)
        response = world.post(voice(inbound_sid(1), "+14155552673", OUR_NUMBER))
    root = parse_twiml(response.data)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "nobody can take your call" in (root[0].text or "")
    assert world.board.live() == []
    assert twilio.sent == []


def test_phone_call_with_a_withheld_number_is_answered_politely(world: World) -> None:
    response = world.post(voice(inbound_sid(1), "anonymous", OUR_NUMBER))
    assert [child.tag for child in parse_twiml(response.data)] == ["Say", "Hangup"]


def test_phone_call_rings_only_who_is_online() -> None:
    with FakeTwilio().running() as twilio:
        world = World(twilio, is_online=lambda identity: identity == "bob")
        response = world.post(voice(inbound_sid(1), "+14155552673", OUR_NUMBER))
    conf = world.board.get(joined(response.data).room)
    assert [str(c.endpoint) for c in conf.calls] == ["+14155552673", "client:bob"]
    assert conf.tag("twilio_number") == OUR_NUMBER
    assert conf.status is ConferenceStatus.CREATED


def test_prefix_must_match_the_providers_callbacks(world: World) -> None:
    from tests.twilio_sim import settings

    with pytest.raises(ConfigError, match="differs from the provider's callback prefix"):
        twilio_blueprint(world.board, world.provider, settings(), url_prefix="/hooks")
    assert WebhookUrls(PUBLIC_URL, prefix="/hooks/").call_status("call_1") == (
        f"{PUBLIC_URL}/hooks/call-status?call=call_1"
    )


def test_blueprint_needs_a_public_url_and_auth_token(world: World) -> None:
    from talkbox.config import Settings

    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        twilio_blueprint(world.board, world.provider, Settings(public_url=PUBLIC_URL))


def test_unexpected_failure_is_not_a_500(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("store is down")

    monkeypatch.setattr(world.board, "apply", explode)
    monkeypatch.setattr(world.board, "incoming", explode)
    status = world.post(Leg(call_sid(1), "a", "b").status("ringing", 1.0))
    assert status.status_code == 503
    call = world.post(voice(inbound_sid(1), "client:alice", "client:bob"))
    assert call.status_code == 200
    assert [child.tag for child in parse_twiml(call.data)] == ["Say", "Hangup"]


def test_post_helper_signs_over_the_public_url(world: World) -> None:
    delivery = Leg(call_sid(1), "a", "b").status("ringing", 1.0)
    assert delivery.url.startswith(PUBLIC_URL + "/twilio/call-status")
    assert post(world.client, delivery).status_code == 204


def test_status_webhooks_never_wait_for_twilios_rest_api() -> None:
    """The caller's join asks for the callee to be dialled; the webhook answers first."""
    pending: list[Callable[[], None]] = []
    with FakeTwilio().running() as twilio:
        world = World(twilio, run_effect=pending.append)
        leg = open_call(world)
        room = Room(world.conf_id)
        alice = Leg(
            leg.sid, "client:alice", "client:bob", label=world.board.get(world.conf_id).caller.id
        )
        assert world.post(room.event("participant-join", world.t(), alice)).status_code == 204
        assert twilio.sent == []
        assert len(pending) == 1
        pending.pop()()
        assert [s.path for s in twilio.sent] == [f"/Conferences/{world.conf_id}/Participants.json"]


def test_a_leg_we_do_not_know_in_a_known_room_is_hung_up_politely(world: World) -> None:
    conf = world.board.dial("client:alice", "client:bob")
    query = f"conference={conf.id}&call=call_0000000000000000"
    response = world.post(voice(call_sid(1), "+14155552671", "client:alice", query=query))
    assert [child.tag for child in parse_twiml(response.data)] == ["Say", "Hangup"]


def test_the_twilio_entry_point_loads_the_adapter() -> None:
    from talkbox.providers import available, load
    from talkbox.providers.twilio import TwilioProvider

    assert "twilio" in available()
    assert load("twilio") is TwilioProvider
