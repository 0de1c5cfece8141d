"""The CLI against a real server on 127.0.0.1, with devices driven through its API."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.cli.conftest import Device, LiveServer, legs, live_room, wait_for


def hang_up_soon(device: Device, call_id: str) -> None:
    """Hang up a moment after answering, from another thread (the stream must go on)."""
    threading.Timer(0.3, device.hang_up, args=(call_id,)).start()


def test_dial_wait_shows_the_progression(server: LiveServer) -> None:
    Device(server, "alice").online()
    Device(server, "bob", after_answer=hang_up_soon).online()

    result = server.invoke("alice", "dial", "alice", "bob", "--wait", "--interval", "0.02")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("calling bob from alice: call call_")
    bob = [line.split("] ", 1)[1] for line in lines if "client:bob:" in line]
    assert bob[0] == "client:bob: queued"
    assert "client:bob: in progress" in bob
    assert bob[-1] == "client:bob: completed"
    assert bob.index("client:bob: queued") < bob.index("client:bob: in progress")
    assert lines[-1].startswith("ended: completed, talk time 0:0")


def test_dial_without_wait_prints_the_room_as_json(server: LiveServer) -> None:
    Device(server, "alice", answer=False).online()
    Device(server, "bob", answer=False).online()
    result = server.invoke("alice", "dial", "-", "bob", "--json")
    assert result.exit_code == 0, result.output
    room = json.loads(result.output)
    assert [leg["endpoint"] for leg in room["legs"]] == ["client:alice", "client:bob"]
    assert room["call_id"] == room["legs"][0]["call_id"]

    listed = server.invoke("alice", "calls", "--json")
    assert [r["conference_id"] for r in json.loads(listed.output)] == [room["conference_id"]]
    text = server.invoke("alice", "calls")
    assert text.output.splitlines()[0].startswith("CALL ")
    assert room["call_id"] in text.output
    shown = server.invoke("alice", "show", room["call_id"])
    assert shown.output.startswith(f"{room['conference_id']}  ")
    assert "client:bob" in shown.output

    hung = server.invoke("alice", "hangup", room["call_id"])
    assert (hung.exit_code, hung.output) == (0, f"hang-up requested for {room['call_id']}\n")
    wait_for(lambda: server.client("alice").get("/calls")["calls"] == [])
    history = server.invoke("alice", "calls", "--all", "--json")
    (ended,) = json.loads(history.output)
    assert (ended["type"], ended["reason"]) == ("conference-ended", "canceled")
    assert room["conference_id"] in server.invoke("alice", "calls", "--all").output
    assert server.invoke("alice", "calls").output == "no live calls\n"


def test_watch_json_emits_the_call_events(server: LiveServer) -> None:
    Device(server, "alice").online()
    Device(server, "bob", after_answer=hang_up_soon).online()
    watcher = "cli-watch-test"

    def dial_once_watching() -> None:
        wait_for(lambda: watcher in server.tb.hub.devices("alice"))
        server.client("alice").post("/calls", {"to": "bob"})

    threading.Thread(target=dial_once_watching, daemon=True).start()
    result = server.invoke(
        "alice", "watch", "--json", "--until", "conference-ended", "--device", watcher
    )

    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert events[0] == {"type": "presence", "online": ["alice", "bob"]}
    types = [e["type"] for e in events[1:]]
    assert types[0] == "conference-created"
    assert types[-1] == "conference-ended"
    by_party = {
        who: [e["type"] for e in events if e.get("endpoint") == who]
        for who in ("client:alice", "client:bob")
    }
    answered = ["call-ringing", "call-answered", "participant-joined"]
    assert by_party["client:alice"] == ["call-created", *answered, "participant-left", "call-ended"]
    assert by_party["client:bob"] == [
        "call-created",
        "call-initiated",  # bob is dialled only once alice has joined
        *answered,
        "participant-left",
        "call-ended",
    ]
    assert events[-1]["reason"] == "completed"
    assert events[-1]["parties"] == ["client:alice", "client:bob"]


def test_watch_text_lines(server: LiveServer) -> None:
    Device(server, "bob").online()
    result = server.invoke("alice", "watch", "--count", "1")
    assert result.exit_code == 0, result.output
    # The watcher is no device of alice's: she does not count as online, nothing rings it.
    assert result.output.rstrip().endswith("presence online: bob")
    as_device = server.invoke("alice", "watch", "--count", "1", "--device", "alices-cli-1")
    assert as_device.output.rstrip().endswith("presence online: alice, bob")


def test_conference_commands_change_the_room(server: LiveServer) -> None:
    Device(server, "alice").online()
    Device(server, "bob").online()
    carol = Device(server, "carol").online()
    server.client("alice").post("/calls", {"to": "bob"})
    room = live_room(server, "alice")
    alice_call, bob_call = (leg["call_id"] for leg in room["legs"])

    added = server.invoke("alice", "conference", "add", alice_call, "carol")
    assert added.exit_code == 0, added.output
    assert added.output.startswith(f"dialling carol into {room['conference_id']}: call call_")
    wait_for(lambda: carol.answered)
    room = live_room(server, "alice")
    carol_call = legs(room)["client:carol"]["call_id"]

    for command, leg, field in [
        ("mute", bob_call, "muted"),
        ("hold", carol_call, "on_hold"),
    ]:
        result = server.invoke("alice", "conference", command, leg)
        assert result.exit_code == 0, result.output
        wait_for(lambda leg=leg, field=field: _leg(server, leg)[field] is True)
    listed = json.loads(server.invoke("alice", "conference", "list", "--json").output)
    assert legs(listed[0])["client:bob"]["muted"] is True
    assert "muted" in server.invoke("bob", "conference", "list").output
    for command, leg, field in [("unmute", bob_call, "muted"), ("unhold", carol_call, "on_hold")]:
        assert server.invoke("alice", "conference", command, leg).exit_code == 0
        wait_for(lambda leg=leg, field=field: _leg(server, leg)[field] is False)

    removed = server.invoke("alice", "conference", "remove", carol_call)
    assert removed.exit_code == 0, removed.output
    wait_for(lambda: _leg(server, carol_call)["status"] == "completed")

    ended = server.invoke("bob", "conference", "end", bob_call)
    assert ended.output == f"end requested for {room['conference_id']}\n"
    wait_for(lambda: server.client("alice").get("/calls")["calls"] == [])
    assert server.invoke("alice", "conference", "list").output == "no live rooms\n"


def test_cold_and_warm_transfer(server: LiveServer) -> None:
    Device(server, "alice").online()
    Device(server, "bob").online()
    carol = Device(server, "carol").online()
    server.client("alice").post("/calls", {"to": "bob"})
    room = live_room(server, "alice")
    alice_call, bob_call = (leg["call_id"] for leg in room["legs"])

    warm = server.invoke("bob", "transfer", bob_call, "carol", "--warm")
    assert warm.exit_code == 0, warm.output
    assert (
        warm.output.splitlines()[1]
        == f"finish with: talkbox transfer {bob_call} --complete (or --cancel)"
    )
    wait_for(lambda: carol.answered)
    wait_for(lambda: _leg(server, alice_call)["on_hold"] is True)
    done = server.invoke("bob", "transfer", bob_call, "--complete")
    assert done.exit_code == 0, done.output
    wait_for(lambda: _leg(server, bob_call)["status"] == "completed")
    wait_for(lambda: _leg(server, alice_call)["on_hold"] is False)

    carol_call = legs(server.client("alice").get(f"/calls/{alice_call}"))["client:carol"]["call_id"]
    cold = server.invoke("carol", "transfer", carol_call, "bob", "--json")
    assert cold.exit_code == 0, cold.output
    assert json.loads(cold.output)["target_call_id"].startswith("call_")
    wait_for(lambda: _leg(server, carol_call)["status"] == "completed")


def _leg(server: LiveServer, call_id: str) -> dict[str, object]:
    """A leg as alice sees it (she is in every room of these tests)."""
    rooms = server.client("alice").get("/calls")["calls"]
    for room in rooms:
        for leg in room["legs"]:
            if leg["call_id"] == call_id:
                return dict(leg)
    return {"status": "completed"} if not rooms else {}


def test_errors_are_one_line_with_a_hint(server: LiveServer) -> None:
    Device(server, "alice").online()
    bad_number = server.invoke("alice", "dial", "alice", "+1555")
    assert bad_number.exit_code == 2
    assert bad_number.output.startswith("error: '+1555' is not a valid endpoint: ")
    assert "(hint: use a user name" in bad_number.output
    assert bad_number.output.count("\n") == 1

    unknown = server.invoke("alice", "show", "call_nope")
    assert unknown.exit_code == 1
    assert unknown.output == (
        "error: no call with id 'call_nope' (hint: list live calls with 'talkbox calls'; "
        "ids look like call_... or conf_...)\n"
    )
    assert server.invoke("alice", "hangup", "call_nope").exit_code == 1
    assert server.invoke("alice", "conference", "mute", "call_nope").exit_code == 1

    offline = server.invoke("alice", "dial", "alice", "carol")
    assert offline.exit_code == 1
    assert "carol is offline (hint: caller and callee each need a device" in offline.output

    not_me = server.invoke("alice", "dial", "bob", "carol")
    assert not_me.exit_code == 2
    assert "the server dials as alice (the API token's user), not bob" in not_me.output

    bad_token = server.invoke("alice", "calls", env={"TALKBOX_API_TOKEN": "tbk_wrong"})
    assert bad_token.exit_code == 1
    assert "hint: create a token with 'talkbox users token NAME'" in bad_token.output

    usage = server.invoke("alice", "transfer", "call_x")
    assert usage.exit_code == 2
    assert "give TO to start a transfer" in usage.output


def test_server_down_is_exit_1_with_a_hint(server: LiveServer) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    started = time.monotonic()
    result = server.invoke("alice", "calls", env={"TALKBOX_SERVER": f"http://127.0.0.1:{port}"})
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert result.output.startswith(
        f"error: cannot reach the talkbox server at http://127.0.0.1:{port}: "
    )
    assert result.output.rstrip().endswith(
        "(hint: start it with 'talkbox serve', or set --server / TALKBOX_SERVER)"
    )
    bad_url = server.invoke("alice", "calls", env={"TALKBOX_SERVER": "ftp://x"})
    assert bad_url.exit_code == 2


def test_ctrl_c_during_wait_offers_to_hang_up(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    Device(server, "alice", answer=False).online()
    Device(server, "bob", answer=False).online()

    monkeypatch.setattr("talkbox.cli_support.calls.time.sleep", _raise_interrupt)
    result = server.invoke("alice", "dial", "alice", "bob", "--wait", input="y\n")

    assert result.exit_code == 130
    assert "hang up call_" in result.output
    assert "hang-up requested for call_" in result.output
    wait_for(lambda: server.client("alice").get("/calls")["calls"] == [])
    (ended,) = server.client("alice").get("/history")["calls"]
    assert ended["reason"] == "canceled"


def test_ctrl_c_declined_leaves_the_call(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    Device(server, "alice", answer=False).online()
    Device(server, "bob", answer=False).online()
    monkeypatch.setattr("talkbox.cli_support.calls.time.sleep", _raise_interrupt)
    result = server.invoke("alice", "dial", "alice", "bob", "--wait", input="n\n")
    assert result.exit_code == 130
    assert "hang-up requested" not in result.output
    assert len(server.client("alice").get("/calls")["calls"]) == 1


def _raise_interrupt(seconds: float) -> None:
    raise KeyboardInterrupt


def test_dial_without_a_device_of_your_own(server: LiveServer) -> None:
    Device(server, "bob").online()
    result = server.invoke("alice", "dial", "alice", "bob")
    assert result.exit_code == 1
    assert result.output == (
        "error: alice is offline (hint: caller and callee each need a device (a browser) "
        "connected to the server)\n"
    )
