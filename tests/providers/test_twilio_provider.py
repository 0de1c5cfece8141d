"""The Twilio adapter's REST requests, exactly as they leave us, against a fake API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from talkbox.errors import ProviderError
from talkbox.model import Call, CallStatus, Conference, ConferenceStatus, Endpoint, EndReason, Role
from talkbox.providers.twilio import TwilioProvider
from tests.twilio_sim import (
    ACCOUNT_SID,
    CALLER_ID,
    PUBLIC_URL,
    FakeTwilio,
    call_sid,
    conference_sid,
    error_body,
    invalid_number,
    provider,
    too_many_requests,
)

CONF = "conf_00112233aabbccdd"
ALICE = "call_a11ce00000000001"
BOB = "call_b0b0000000000002"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio().running() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def adapter(sleeps: list[float]) -> TwilioProvider:
    return provider(sleeps)


def leg(
    call_id: str, endpoint: str, status: CallStatus = CallStatus.INITIATED, **kw: object
) -> Call:
    return Call(
        id=call_id,
        conference_id=CONF,
        endpoint=Endpoint.parse(endpoint),
        role=Role.CALLER if call_id == ALICE else Role.CALLEE,
        status=status,
        created_at=0.0,
        **kw,  # type: ignore[arg-type]
    )


def room(*calls: Call, provider_id: str | None = None) -> Conference:
    conf = Conference(
        id=CONF,
        owner=calls[0].endpoint,
        status=ConferenceStatus.ACTIVE,
        created_at=0.0,
        provider_id=provider_id,
    )
    for call in calls:
        conf = conf.with_call(call)
    return conf


def test_place_call_sends_the_documented_fields(
    twilio: FakeTwilio, adapter: TwilioProvider
) -> None:
    alice = leg(ALICE, "client:alice")
    conf = room(alice, leg(BOB, "+14155552672", CallStatus.QUEUED))
    assert adapter.place_call(conf, alice) == call_sid(1)
    (sent,) = twilio.sent
    assert (sent.method, sent.path) == ("POST", "/Calls.json")
    assert sent.form == {
        "To": ["client:alice"],
        "From": [CALLER_ID],  # a telephone number in From must be one of ours
        "Url": [f"{PUBLIC_URL}/twilio/voice?conference={CONF}&call={ALICE}"],
        "Method": ["POST"],
        "StatusCallback": [f"{PUBLIC_URL}/twilio/call-status?call={ALICE}"],
        "StatusCallbackMethod": ["POST"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "Timeout": ["30"],
    }


def test_a_telephone_is_called_from_our_caller_id(
    twilio: FakeTwilio, adapter: TwilioProvider
) -> None:
    phone = leg(ALICE, "+14155552673")
    adapter.place_call(room(phone, leg(BOB, "client:bob")), phone)
    assert twilio.sent[0].one("From") == CALLER_ID


def test_a_browser_sees_the_browser_calling_it(twilio: FakeTwilio, adapter: TwilioProvider) -> None:
    bob = leg(ALICE, "client:bob")
    adapter.place_call(room(bob, leg(BOB, "client:carol")), bob)
    assert twilio.sent[0].one("From") == "client:carol"


def test_without_a_caller_id_a_telephone_cannot_be_dialled(twilio: FakeTwilio) -> None:
    from talkbox.errors import ConfigError
    from talkbox.providers.twilio import WebhookUrls
    from tests.twilio_sim import settings

    bare = TwilioProvider.from_settings(settings(caller_id=None), urls=WebhookUrls(PUBLIC_URL))
    phone = leg(BOB, "+14155552673")
    with pytest.raises(ConfigError, match="TWILIO_CALLER_ID"):
        bare.add_participant(room(leg(ALICE, "client:alice"), phone), phone)
    assert twilio.sent == []


def test_add_participant_uses_the_friendly_name_and_labels_the_leg(
    twilio: FakeTwilio, adapter: TwilioProvider
) -> None:
    alice, bob = leg(ALICE, "client:alice", CallStatus.IN_PROGRESS), leg(BOB, "client:bob")
    assert adapter.add_participant(room(alice, bob), bob) == call_sid(1)
    (sent,) = twilio.sent
    assert (sent.method, sent.path) == ("POST", f"/Conferences/{CONF}/Participants.json")
    assert sent.form == {
        "From": ["client:alice"],
        "To": ["client:bob"],
        "Label": [BOB],
        "Timeout": ["30"],
        "Beep": ["false"],
        "EarlyMedia": ["true"],
        "StartConferenceOnEnter": ["true"],
        "EndConferenceOnExit": ["false"],
        "StatusCallback": [f"{PUBLIC_URL}/twilio/call-status?call={BOB}"],
        "StatusCallbackMethod": ["POST"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "ConferenceStatusCallback": [f"{PUBLIC_URL}/twilio/conference-status?conference={CONF}"],
        "ConferenceStatusCallbackMethod": ["POST"],
        "ConferenceStatusCallbackEvent": [
            "start",
            "end",
            "join",
            "leave",
            "mute",
            "hold",
            "modify",
        ],
    }


@pytest.mark.parametrize(
    ("status", "sent_status"),
    [
        (CallStatus.INITIATED, "canceled"),
        (CallStatus.RINGING, "canceled"),
        (CallStatus.IN_PROGRESS, "completed"),
    ],
)
def test_hangup_cancels_a_ringing_leg_and_completes_an_answered_one(
    twilio: FakeTwilio, adapter: TwilioProvider, status: CallStatus, sent_status: str
) -> None:
    adapter.hangup(leg(BOB, "client:bob", status, provider_id=call_sid(7)))
    (sent,) = twilio.sent
    assert (sent.method, sent.path, sent.form) == (
        "POST",
        f"/Calls/{call_sid(7)}.json",
        {"Status": [sent_status]},
    )


def test_participant_commands(twilio: FakeTwilio, adapter: TwilioProvider) -> None:
    cf = conference_sid(CONF)
    bob = leg(BOB, "client:bob", CallStatus.IN_PROGRESS, provider_id=call_sid(2))
    conf = room(leg(ALICE, "client:alice", CallStatus.IN_PROGRESS), bob, provider_id=cf)
    adapter.set_muted(conf, bob, True)
    adapter.set_muted(conf, bob, False)
    adapter.set_on_hold(conf, bob, True)
    adapter.set_on_hold(conf, bob, False)
    adapter.remove_participant(conf, bob)
    adapter.end_conference(conf)
    path = f"/Conferences/{cf}/Participants/{call_sid(2)}.json"
    assert [(s.method, s.path, s.form) for s in twilio.sent] == [
        ("POST", path, {"Muted": ["true"]}),
        ("POST", path, {"Muted": ["false"]}),
        (
            "POST",
            path,
            {
                "Hold": ["true"],
                "HoldUrl": ["https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"],
                "HoldMethod": ["GET"],
            },
        ),
        ("POST", path, {"Hold": ["false"]}),
        ("DELETE", path, {}),
        ("POST", f"/Conferences/{cf}.json", {"Status": ["completed"]}),
    ]


def test_participant_commands_need_the_conference_sid(adapter: TwilioProvider) -> None:
    bob = leg(BOB, "client:bob", CallStatus.IN_PROGRESS, provider_id=call_sid(2))
    with pytest.raises(ProviderError, match="has not reported the room"):
        adapter.set_muted(room(leg(ALICE, "client:alice"), bob), bob, True)


def test_ending_a_room_twilio_has_not_started_hangs_up_its_legs(
    twilio: FakeTwilio, adapter: TwilioProvider
) -> None:
    alice = leg(ALICE, "client:alice", CallStatus.RINGING, provider_id=call_sid(1))
    adapter.end_conference(room(alice, leg(BOB, "client:bob", CallStatus.QUEUED)))
    assert [(s.path, s.form) for s in twilio.sent] == [
        (f"/Calls/{call_sid(1)}.json", {"Status": ["canceled"]})
    ]


# -- errors and retries -----------------------------------------------------------------------
def test_invalid_number_becomes_a_provider_error_with_its_reason(
    twilio: FakeTwilio, adapter: TwilioProvider
) -> None:
    twilio.fail("POST", "/Calls.json", invalid_number("+14155552673"))
    phone = leg(ALICE, "+14155552673")
    with pytest.raises(ProviderError) as caught:
        adapter.place_call(room(phone, leg(BOB, "client:bob")), phone)
    error = caught.value
    assert (error.provider, error.status, error.code) == ("twilio", 400, 21211)
    assert error.reason is EndReason.INVALID_NUMBER
    assert error.message.endswith("The 'To' number +14155552673 is not a valid phone number.")
    assert len(twilio.sent) == 1


def test_429_then_success_is_retried_with_backoff(
    twilio: FakeTwilio, adapter: TwilioProvider, sleeps: list[float]
) -> None:
    twilio.fail("POST", r"/Calls/CA\w+\.json", too_many_requests())
    twilio.fail("POST", r"/Calls/CA\w+\.json", too_many_requests())
    adapter.hangup(leg(BOB, "client:bob", CallStatus.IN_PROGRESS, provider_id=call_sid(2)))
    assert len(twilio.sent) == 3
    assert sleeps == [0.5, 1.0]


def test_retries_are_bounded(
    twilio: FakeTwilio, adapter: TwilioProvider, sleeps: list[float]
) -> None:
    for _ in range(5):
        twilio.fail("DELETE", r".*", too_many_requests())
    bob = leg(BOB, "client:bob", CallStatus.IN_PROGRESS, provider_id=call_sid(2))
    with pytest.raises(ProviderError) as caught:
        adapter.remove_participant(
            room(leg(ALICE, "client:alice"), bob, provider_id="CF" + "1" * 32), bob
        )
    assert (caught.value.status, caught.value.code) == (429, 20429)
    assert len(twilio.sent) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_429_on_create_is_retried_because_twilio_did_not_process_it(
    twilio: FakeTwilio, adapter: TwilioProvider, sleeps: list[float]
) -> None:
    twilio.fail("POST", "/Calls.json", too_many_requests())
    alice = leg(ALICE, "client:alice")
    assert adapter.place_call(room(alice), alice) == call_sid(1)
    assert [s.path for s in twilio.sent] == ["/Calls.json", "/Calls.json"]
    assert sleeps == [0.5]


def test_the_http_client_has_a_timeout(adapter: TwilioProvider) -> None:
    assert adapter.client.http_client.timeout == 10.0
    assert adapter.client.account_sid == ACCOUNT_SID


# -- recovery ---------------------------------------------------------------------------------
def test_live_lists_calls_by_status_and_rooms_with_participants(
    twilio: FakeTwilio, adapter: TwilioProvider
) -> None:
    from tests.twilio_sim import _call_body, _conference_body, _participant_body

    cf = conference_sid(CONF)
    twilio.live_calls["ringing"] = [
        _call_body(call_sid(2), "client:bob", "client:alice", "ringing", "outbound-api")
    ]
    twilio.live_calls["in-progress"] = [
        _call_body(call_sid(1), "client:alice", CALLER_ID, "in-progress", "outbound-api")
    ]
    twilio.live_rooms.append(
        (
            _conference_body(cf, CONF),
            [_participant_body(cf, call_sid(1), ALICE, "connected", muted=True)],
        )
    )
    view = adapter.live()
    assert [
        (c.provider_call_id, c.status, c.to, c.from_, c.provider_conference_id) for c in view.calls
    ] == [
        (call_sid(2), CallStatus.RINGING, "client:bob", "client:alice", None),
        (call_sid(1), CallStatus.IN_PROGRESS, "client:alice", CALLER_ID, cf),
    ]
    (live_room,) = view.conferences
    assert (live_room.provider_conference_id, live_room.name) == (cf, CONF)
    assert [(p.provider_call_id, p.muted, p.on_hold) for p in live_room.participants] == [
        (call_sid(1), True, False)
    ]
    assert [(s.method, s.path, s.query.get("Status")) for s in twilio.sent] == [
        ("GET", "/Calls.json", ["queued"]),
        ("GET", "/Calls.json", ["ringing"]),
        ("GET", "/Calls.json", ["in-progress"]),
        ("GET", "/Conferences.json", ["in-progress"]),
        ("GET", f"/Conferences/{cf}/Participants.json", None),
    ]


def test_final_report_reads_the_finished_call(twilio: FakeTwilio, adapter: TwilioProvider) -> None:
    from tests.twilio_sim import _call_body

    body = _call_body(call_sid(3), "+14155552672", CALLER_ID, "busy", "outbound-api")
    body.update(duration="0", end_time="Tue, 25 Nov 2026 17:05:00 +0000")
    twilio.fail("GET", r"/Calls/CA\w+\.json", (200, body))
    report = adapter.final_report(call_sid(3))
    assert report is not None
    assert (report.status, report.duration, report.provider_call_id) == (
        CallStatus.BUSY,
        0.0,
        call_sid(3),
    )
    assert report.timestamp == datetime(2026, 11, 25, 17, 5, tzinfo=UTC).timestamp()
    assert [(s.method, s.path) for s in twilio.sent] == [("GET", f"/Calls/{call_sid(3)}.json")]


def test_final_report_of_a_live_or_unknown_call_is_none(
    twilio: FakeTwilio, adapter: TwilioProvider
) -> None:
    assert adapter.final_report(call_sid(4)) is None  # the fake answers in-progress
    twilio.fail("GET", r"/Calls/CA\w+\.json", (404, error_body(404, 20404, "not found")))
    assert adapter.final_report(call_sid(5)) is None
