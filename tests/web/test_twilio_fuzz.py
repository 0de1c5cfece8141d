"""Fuzzing the three Twilio webhooks through the Flask test client.

Anything may arrive at a public webhook URL: Twilio's own requests with fields we do not know,
replays, forgeries, scanners. Whatever the form and query string, and whether the request is
signed correctly, unsigned or forged, the blueprint must answer without a 5xx, must not let an
exception escape (the blueprint's catch-all logs one and answers 503 or a goodbye TwiML, so we
watch the log too), and must leave the store and its event log exactly as they were whenever it
rejects the request (4xx).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode
from xml.etree import ElementTree

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from tests.twilio_sim import (
    ACCOUNT_SID,
    OUR_NUMBER,
    PUBLIC_URL,
    FakeTwilio,
    Leg,
    Room,
    call_sid,
    conference_sid,
    inbound_sid,
    joined,
    sign,
    timestamp,
    voice,
)
from tests.twilio_world import World

ROUTES = ("/twilio/voice", "/twilio/call-status", "/twilio/conference-status")
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Known:
    """Ids of the live room every example starts from, so that fuzzed requests can name real
    legs and rooms (and so reach the switchboard) as well as made-up ones."""

    conf_id: str
    call_ids: tuple[str, ...]
    sids: tuple[str, ...]


def room_with_a_ringing_callee(world: World) -> Known:
    """Alice's browser calls bob: she is in the room, bob's leg is being dialled."""
    response = world.post(voice(inbound_sid(1), "client:alice", "client:bob"))
    world.conf_id = joined(response.data).room
    conf = world.board.get(world.conf_id)
    alice = Leg(inbound_sid(1), "client:alice", "client:bob", label=conf.caller.id)
    room = Room(world.conf_id)
    world.deliver(room.event("participant-join", world.t(), alice))
    world.deliver(room.event("conference-start", world.t()))
    conf = world.board.get(world.conf_id)
    return Known(conf.id, tuple(c.id for c in conf.calls), (inbound_sid(1), call_sid(1)))


# -- strategies ----------------------------------------------------------------------------------
#: Any text a form can carry (no lone surrogates: they cannot be encoded in a request at all).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
#: Digit-like strings, including Unicode digits that ``str.isdigit`` accepts and ``int`` refuses.
#: superscripts, Arabic-Indic, Bengali and N'Ko digits besides ASCII ones.
DIGIT_CHARS = "0123456789\u00b2\u00b3\u00b9\u0663\u09ea\u07c2"
DIGITS = st.one_of(
    st.integers(min_value=-5, max_value=10**30).map(str),
    st.text(st.sampled_from(DIGIT_CHARS), min_size=1, max_size=6),
    st.sampled_from(DIGIT_CHARS[10:]),
)
TIMESTAMPS = st.one_of(
    st.floats(min_value=-1e11, max_value=1e11, allow_nan=False).map(
        lambda t: timestamp(t) if -6e10 < t < 2.5e11 else str(t)
    ),
    st.sampled_from(
        [
            "Mon, 01 Jan 0001 00:00:00 +0100",
            "Fri, 31 Dec 9999 23:59:59 -2359",
            "Tue, 25 Nov 2026 17:00:00 +9999",
            "Tue, 25 Nov 2026 17:00:00",
            "Tue, 25 Nov 99999 17:00:00 +0000",
            "Tue, 25 Nov 2026 25:61:61 +0000",
        ]
    ),
)
BOOLS = st.sampled_from(["true", "false", "True", "FALSE", "", "1", "yes"])
SIDS = st.one_of(
    st.sampled_from([inbound_sid(1), call_sid(1), call_sid(7), "CA123", ""]),
    st.from_regex(r"CA[0-9a-fA-F]{32}", fullmatch=True),
)
CALL_STATUSES = st.sampled_from(
    [
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "failed",
        "no-answer",
        "canceled",
        "IN-PROGRESS",
        " ringing ",
        "exploded",
    ]
)
CONFERENCE_EVENTS = st.sampled_from(
    [
        "conference-start",
        "conference-end",
        "participant-join",
        "participant-leave",
        "participant-mute",
        "participant-unmute",
        "participant-hold",
        "participant-unhold",
        "participant-modify",
        "participant-speech-start",
        "announcement-end",
        "Participant-Join",
        "",
    ]
)
ENDPOINTS = st.sampled_from(
    [
        "client:alice",
        "client:bob",
        "client:",
        "client:al ice",
        "client:" + "x" * 130,
        OUR_NUMBER,
        "+14155552673",
        "+1415555",
        "anonymous",
        "sip:bob@example.com",
        "12",
        "+" + "9" * 40,
    ]
)


def field_values(known: Known) -> dict[str, st.SearchStrategy[str]]:
    """Plausible and hostile values for the fields the webhooks read."""
    ids = st.sampled_from([*known.call_ids, known.conf_id, "call_0000000000000000", ""])
    names = st.sampled_from([known.conf_id, "conf_0000000000000000", "My Room", ""])
    return {
        "CallSid": SIDS,
        "CallStatus": CALL_STATUSES,
        "SequenceNumber": DIGITS,
        "CallDuration": DIGITS,
        "Timestamp": TIMESTAMPS,
        "From": ENDPOINTS,
        "To": ENDPOINTS,
        "StatusCallbackEvent": CONFERENCE_EVENTS,
        "ConferenceSid": st.sampled_from(
            [conference_sid(known.conf_id), conference_sid("other"), "CF1", ""]
        ),
        "FriendlyName": names,
        "ParticipantLabel": ids,
        "Muted": BOOLS,
        "Hold": BOOLS,
        "ReasonConferenceEnded": TEXT,
        "AccountSid": st.sampled_from([ACCOUNT_SID, "AC0"]),
    }


#: The fields each route reads: mutated most often, so that the fuzzer spends its examples
#: where the parsing is.
READS = {
    "voice": ["CallSid", "From", "To", "CallStatus"],
    "call-status": ["CallSid", "CallStatus", "SequenceNumber", "CallDuration", "Timestamp"],
    "conference-status": [
        "StatusCallbackEvent",
        "ConferenceSid",
        "FriendlyName",
        "ParticipantLabel",
        "CallSid",
        "SequenceNumber",
        "Timestamp",
        "Muted",
        "Hold",
    ],
}


def base_form(route: str, known: Known) -> dict[str, str]:
    """A genuine request of ``route``, for the fuzzer to mutate."""
    if route.endswith("/voice"):
        return dict(voice(inbound_sid(2), "+14155552673", OUR_NUMBER).params)
    leg = Leg(call_sid(1), "client:alice", "client:bob", known.call_ids[1])
    if route.endswith("/call-status"):
        return dict(leg.status("ringing", 1_800_000_100.0).params)
    return dict(Room(known.conf_id).event("participant-join", 1_800_000_100.0, leg).params)


@st.composite
def requests(draw: st.DrawFn, route: str, known: Known) -> tuple[MultiDict[str, str], str]:
    """A form (a genuine one mutated, or arbitrary; a field may come twice) and a query
    string."""
    values = field_values(known)
    if draw(st.integers(0, 3)):  # three times in four: a genuine request, mutated
        form = base_form(route, known)
        for name in draw(st.lists(st.sampled_from(sorted(form)), max_size=2, unique=True)):
            del form[name]
    else:
        form = {}
    read = READS[route.rsplit("/", 1)[1]]
    names = draw(st.lists(st.sampled_from(read), max_size=3, unique=True))
    names += draw(st.lists(st.sampled_from(sorted(values)), max_size=2, unique=True))
    for name in dict.fromkeys(names):
        # Mostly values of the right shape, so that most requests get past parsing.
        form[name] = draw(st.one_of(values[name], values[name], values[name], TEXT))
    form.update(draw(st.dictionaries(TEXT, TEXT, max_size=3)))
    # The same field twice (``CallStatus=ringing&CallStatus=completed``): signed over both,
    # read as the first.
    repeated = draw(
        st.lists(st.tuples(st.sampled_from(read), st.one_of(*values.values(), TEXT)), max_size=2)
    )
    fields = MultiDict(list(form.items()) + repeated)
    query = draw(
        st.one_of(
            st.just(""),
            st.fixed_dictionaries(
                {},
                optional={
                    "conference": st.sampled_from([known.conf_id, "conf_0000000000000000"]) | TEXT,
                    "call": st.sampled_from(list(known.call_ids)) | TEXT,
                },
            ).map(urlencode),
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
            st.lists(st.sampled_from(["conference=", "call=", "&", "=", "%", "%zz", "#", "?"])).map(
                "".join
            ),
        )
    )
    return fields, query


# -- the properties ------------------------------------------------------------------------------
class Errors(logging.Handler):
    """Collects ERROR records: an exception the blueprint's catch-all had to log."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def watching_errors() -> Iterator[Errors]:
    handler = Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def snapshot(world: World) -> tuple[object, ...]:
    store = world.board.store
    return (
        tuple(store.live()),
        tuple(store.events(limit=100_000)),
        tuple(store.history(limit=100_000)),
    )


def check(route: str, signing: str, data: st.DataObject) -> None:
    with FakeTwilio().running() as twilio:
        world = World(twilio)
        known = room_with_a_ringing_callee(world)
        form, query = data.draw(requests(route, known), label="request")
        url = PUBLIC_URL + route + (f"?{query}" if query else "")
        headers: dict[str, str] = {}
        if signing == "valid":
            headers["X-Twilio-Signature"] = sign(url, form)
        elif signing == "forged":
            headers["X-Twilio-Signature"] = data.draw(
                st.sampled_from(
                    [
                        sign(url, form, token="f" * 32),  # another account's token
                        sign("http://localhost" + route, form),  # over the local URL
                        sign(url, {**form.to_dict(), "Extra": "1"}),  # over other parameters
                    ]
                )
                | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
                label="signature",
            )
        before = snapshot(world)
        with watching_errors() as errors:
            response = world.client.post(route, query_string=query, data=form, headers=headers)
        status = response.status_code
        event(f"{signing} -> {status}")  # --hypothesis-show-statistics: what was reached
        assert status < 500, (status, response.get_data(as_text=True))
        assert errors.records == [], [r.getMessage() for r in errors.records]
        if signing == "none":
            assert status == 400
        elif signing == "forged":
            assert status == 403
        elif "#" not in query:
            # A raw '#' starts a fragment: no client sends one to a server, and Twilio cannot
            # have signed it, so the validator may rightly refuse such a "valid" signature.
            assert status in (200, 204, 400), response.get_data(as_text=True)
        if status >= 400:
            assert snapshot(world) == before
            assert response.is_json
        elif route.endswith("/voice"):
            assert ElementTree.fromstring(response.data).tag == "Response"


@FUZZ
@given(data=st.data(), signing=st.sampled_from(["valid", "valid", "none", "forged"]))
def test_fuzz_voice(data: st.DataObject, signing: str) -> None:
    check("/twilio/voice", signing, data)


@FUZZ
@given(data=st.data(), signing=st.sampled_from(["valid", "valid", "none", "forged"]))
def test_fuzz_call_status(data: st.DataObject, signing: str) -> None:
    check("/twilio/call-status", signing, data)


@FUZZ
@given(data=st.data(), signing=st.sampled_from(["valid", "valid", "none", "forged"]))
def test_fuzz_conference_status(data: st.DataObject, signing: str) -> None:
    check("/twilio/conference-status", signing, data)


def test_a_valid_signature_is_what_lets_a_request_in() -> None:
    """The fuzz properties would hold vacuously if every signed request were refused: a
    genuine callback, signed by the same helper, is applied."""
    with FakeTwilio().running() as twilio:
        world = World(twilio)
        known = room_with_a_ringing_callee(world)
        form = base_form("/twilio/call-status", known)
        url = f"{PUBLIC_URL}/twilio/call-status"
        before = snapshot(world)
        response = world.client.post(
            "/twilio/call-status", data=form, headers={"X-Twilio-Signature": sign(url, form)}
        )
        assert response.status_code == 204
        assert snapshot(world) != before
