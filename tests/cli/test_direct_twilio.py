"""Direct Twilio mode (no server): the CLI's switchboard against the fake Twilio REST API,
asserting the requests it sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from talkbox.cli import cli
from tests.twilio_sim import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER_ID,
    FakeTwilio,
    Reply,
    Sent,
    _call_body,
    _conference_body,
    _participant_body,
    call_sid,
    conference_sid,
)

CALLEE = "+14155552672"


class AnsweringTwilio(FakeTwilio):
    """Twilio as the CLI sees it by polling: a leg placed with inline TwiML is answered at
    once and joins the room its TwiML names; a participant added to a room rings until
    :meth:`answer`; :meth:`hang_up` ends a leg as its telephone would. Hanging up through the
    REST API or ending the room ends the legs too, and an ended leg's record says so."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: set[str] = set()

    def _leg(self, sid: str) -> dict[str, Any] | None:
        return next((c for cs in self.live_calls.values() for c in cs if c["sid"] == sid), None)

    def answer(self, sid: str) -> None:
        leg = self._leg(sid)
        assert leg is not None
        self.live_calls["ringing"].remove(leg)
        self.live_calls.setdefault("in-progress", []).append({**leg, "status": "in-progress"})
        (room, people), *_ = self.live_rooms
        people.append(_participant_body(room["sid"], sid, None, "connected"))

    def hang_up(self, sid: str) -> None:
        for legs in self.live_calls.values():
            legs[:] = [c for c in legs if c["sid"] != sid]
        for _room, people in self.live_rooms:
            people[:] = [p for p in people if p["call_sid"] != sid]
        self.live_rooms[:] = [(room, people) for room, people in self.live_rooms if people]
        self.ended.add(sid)

    def _answer(self, sent: Sent) -> Reply:
        status, payload = super()._answer(sent)
        path = sent.path
        if sent.method == "POST" and path == "/Calls.json":
            match = re.search(r"<Conference[^>]*>(conf_\w+)</Conference>", sent.one("Twiml"))
            assert match is not None, sent.form
            sid = str(payload["sid"])  # type: ignore[index]
            body = _call_body(sid, sent.one("To"), sent.one("From"), "in-progress", "outbound-api")
            self.live_calls.setdefault("in-progress", []).append(body)
            room = _conference_body(conference_sid(match[1]), match[1])
            self.live_rooms.append((room, [_participant_body(room["sid"], sid, None, "connected")]))
        elif sent.method == "POST" and path.endswith("/Participants.json"):
            sid = str(payload["call_sid"])  # type: ignore[index]
            body = _call_body(sid, sent.one("To"), sent.one("From"), "ringing", "outbound-dial")
            self.live_calls.setdefault("ringing", []).append(body)
        elif match := re.fullmatch(r"/Calls/(CA\w+)\.json", path):
            if sent.method == "POST":
                self.hang_up(match[1])
            elif match[1] in self.ended:
                body = _call_body(match[1], CALLEE, CALLER_ID, "completed", "outbound-api")
                return 200, body | {"duration": "7"}
        elif match := re.fullmatch(r"/Conferences/(CF\w+)\.json", path):
            for room, people in list(self.live_rooms):
                if room["sid"] == match[1]:
                    for person in list(people):
                        self.hang_up(person["call_sid"])
        return status, payload


@pytest.fixture
def twilio() -> Iterator[AnsweringTwilio]:
    with AnsweringTwilio().running() as fake:
        yield fake


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    return {
        "TALKBOX_SERVER": None,
        "TALKBOX_PROVIDER": None,
        "TALKBOX_PUBLIC_URL": None,
        "TALKBOX_STORE": f"sqlite:///{tmp_path / 'direct.db'}",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_CALLER_ID": CALLER_ID,
    }


def run(env: dict[str, Any], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def test_dial_places_the_caller_with_inline_twiml_then_the_callee(
    twilio: AnsweringTwilio, env: dict[str, Any]
) -> None:
    result = run(env, "dial", "alice", CALLEE, "--interval", "0.01")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"calling {CALLEE} from alice: call call_")

    (create,) = twilio.requests("POST", r"/Calls\.json")
    assert create.one("To") == "client:alice"
    assert create.one("From") == CALLER_ID
    conf_id = re.search(r">(conf_\w+)</Conference>", create.one("Twiml"))[1]  # type: ignore[index]
    assert create.one("Twiml") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Conference beep="false" '
        'endConferenceOnExit="false" startConferenceOnEnter="true">'
        f"{conf_id}</Conference></Dial></Response>"
    )
    assert "Url" not in create.form
    assert "StatusCallback" not in create.form  # nothing could receive it

    (add,) = twilio.requests("POST", rf"/Conferences/{conf_id}/Participants\.json")
    assert add.one("To") == CALLEE
    assert add.one("From") == CALLER_ID
    assert add.one("Label").startswith("call_")
    assert "StatusCallback" not in add.form
    assert "ConferenceStatusCallback" not in add.form
    # The callee was dialled only after a poll showed the caller in the room.
    order = [s.path for s in twilio.sent if s.method == "POST"]
    assert order == ["/Calls.json", f"/Conferences/{conf_id}/Participants.json"]
    assert twilio.requests("GET", r"/Conferences\.json")

    listed = run(env, "calls", "--json")
    assert listed.exit_code == 0, listed.output
    (room,) = json.loads(listed.output)
    assert room["conference_id"] == conf_id
    alice, callee = room["legs"]
    assert (alice["status"], alice["joined"]) == ("in-progress", True)
    assert (callee["endpoint"], callee["status"]) == (CALLEE, "ringing")

    muted = run(env, "conference", "mute", alice["call_id"])
    assert muted.exit_code == 0, muted.output
    path = rf"/Conferences/{conference_sid(conf_id)}/Participants/{call_sid(1)}\.json"
    (mute,) = twilio.requests("POST", path)
    assert mute.form == {"Muted": ["true"]}

    hung = run(env, "hangup", callee["call_id"])
    assert hung.exit_code == 0, hung.output
    (cancel,) = twilio.requests("POST", rf"/Calls/{call_sid(2)}\.json")
    assert cancel.form == {"Status": ["canceled"]}


def test_bad_number_is_exit_2_and_sends_nothing(
    twilio: AnsweringTwilio, env: dict[str, Any]
) -> None:
    result = run(env, "dial", "alice", "+1555")
    assert result.exit_code == 2
    assert result.output.startswith("error: '+1555' is not a valid endpoint: ")
    assert twilio.sent == []


def test_twilio_refusal_is_exit_1(twilio: AnsweringTwilio, env: dict[str, Any]) -> None:
    twilio.fail(
        "POST", r"/Calls\.json", (401, {"code": 20003, "message": "Authenticate", "status": 401})
    )
    result = run(env, "dial", "alice", CALLEE)
    assert result.exit_code == 1
    assert result.output.startswith("error: twilio: ")
    assert "(hint: the provider refused; 'talkbox doctor' checks its settings)" in result.output


def test_unknown_call_is_exit_1(twilio: AnsweringTwilio, env: dict[str, Any]) -> None:
    result = run(env, "show", "call_nope")
    assert result.exit_code == 1
    assert result.output.startswith("error: no call with id 'call_nope' (hint: ")
    assert run(env, "calls").output == "no live calls\n"


def test_dial_wait_follows_the_call_by_polling_twilio(
    twilio: AnsweringTwilio, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between polls the callee answers, then hangs up: the CLI sees each step, and the
    switchboard ends the room (alice is hung up) as it would on webhooks."""
    steps = iter(
        [
            lambda: None,  # the first poll finds alice in the room: the callee is dialled
            lambda: twilio.answer(call_sid(2)),
            lambda: twilio.hang_up(call_sid(2)),
            lambda: None,
        ]
    )
    monkeypatch.setattr("talkbox.cli_support.calls.time.sleep", lambda _s: next(steps)())

    result = run(env, "dial", "alice", CALLEE, "--wait")

    assert result.exit_code == 0, result.output
    progress = [line.split("] ", 1)[1] for line in result.output.splitlines() if "] " in line]
    assert progress == [
        "client:alice: initiated",
        f"{CALLEE}: queued",
        "client:alice: in progress",  # the first poll: alice is in the room ...
        f"{CALLEE}: initiated",  # ... so the callee is dialled
        f"{CALLEE}: in progress",
        f"{CALLEE}: completed",
        "client:alice: completed",
    ]
    assert result.output.splitlines()[-1] == "ended: completed, talk time 0:00"
    conf_id = run(env, "calls", "--all", "--json")
    (ended,) = json.loads(conf_id.output)
    assert (ended["reason"], ended["parties"]) == ("completed", ["client:alice", CALLEE])
    # Left alone, alice was hung up through the REST API (the room's end).
    hang_ups = [s.path for s in twilio.sent if s.method == "POST" and "Participants" not in s.path]
    assert hang_ups[0] == "/Calls.json"
    assert set(hang_ups[1:]) <= {
        f"/Calls/{call_sid(1)}.json",
        f"/Conferences/{conference_sid(ended['conference_id'])}.json",
    }
    assert len(hang_ups) > 1


def test_watch_prints_what_polling_finds(
    twilio: AnsweringTwilio, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(env, "dial", "alice", CALLEE, "--interval", "0.01").exit_code == 0
    steps = iter(
        [lambda: twilio.answer(call_sid(2)), lambda: twilio.hang_up(call_sid(2)), lambda: None]
    )
    monkeypatch.setattr("talkbox.cli_support.calls.time.sleep", lambda _s: next(steps)())

    result = run(env, "watch", "--json", "--until", "conference-ended")

    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    callee = [e["type"] for e in events if e.get("endpoint") == CALLEE]
    assert callee == [
        "call-ringing",
        "call-answered",
        "participant-joined",
        "participant-left",
        "call-ended",
    ]
    assert events[-1]["type"] == "conference-ended"


def test_direct_transfer_and_conference_add(twilio: AnsweringTwilio, env: dict[str, Any]) -> None:
    assert run(env, "dial", "alice", CALLEE, "--interval", "0.01").exit_code == 0
    twilio.answer(call_sid(2))
    (room,) = json.loads(run(env, "calls", "--json").output)
    alice_call = room["legs"][0]["call_id"]

    added = run(env, "conference", "add", room["conference_id"], "bob")
    assert added.exit_code == 0, added.output
    (add,) = twilio.requests("POST", rf"/Conferences/{room['conference_id']}/Participants\.json")[
        1:
    ]
    assert add.one("To") == "client:bob"

    moved = run(env, "transfer", alice_call, "+14155552673")
    assert moved.exit_code == 0, moved.output
    assert moved.output.startswith(f"cold transfer of {alice_call} to +14155552673: call call_")
    last = twilio.requests("POST", rf"/Conferences/{room['conference_id']}/Participants\.json")[-1]
    assert last.one("To") == "+14155552673"
    assert twilio.requests("POST", rf"/Calls/{call_sid(1)}\.json")[-1].form == {
        "Status": ["completed"]
    }
