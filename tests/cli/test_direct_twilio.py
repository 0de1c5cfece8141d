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
    once and joins the room its TwiML names; a participant added to a room rings."""

    def _answer(self, sent: Sent) -> Reply:
        status, payload = super()._answer(sent)
        if sent.method == "POST" and sent.path == "/Calls.json":
            match = re.search(r"<Conference[^>]*>(conf_\w+)</Conference>", sent.one("Twiml"))
            assert match is not None, sent.form
            sid = str(payload["sid"])  # type: ignore[index]
            body = _call_body(sid, sent.one("To"), sent.one("From"), "in-progress", "outbound-api")
            self.live_calls.setdefault("in-progress", []).append(body)
            room = _conference_body(conference_sid(match[1]), match[1])
            self.live_rooms.append((room, [_participant_body(room["sid"], sid, None, "connected")]))
        elif sent.method == "POST" and sent.path.endswith("/Participants.json"):
            sid = str(payload["call_sid"])  # type: ignore[index]
            body = _call_body(sid, sent.one("To"), sent.one("From"), "ringing", "outbound-dial")
            self.live_calls.setdefault("ringing", []).append(body)
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
