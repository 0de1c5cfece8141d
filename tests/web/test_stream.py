"""The server-sent event stream over HTTP: headers, keep-alives, filtering, resume, replace."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from werkzeug.test import TestResponse

from talkbox.web import Talkbox
from tests.web.conftest import Device, User


def chunks(response: TestResponse) -> Iterator[str]:
    for chunk in response.response:  # type: ignore[attr-defined]
        yield chunk.decode() if isinstance(chunk, bytes) else chunk


def read_until(stream: Iterator[str], needle: str, limit: float = 5.0) -> str:
    seen = ""
    deadline = time.monotonic() + limit
    while needle not in seen:
        assert time.monotonic() < deadline, f"{needle!r} not in {seen!r}"
        seen += next(stream)
    return seen


def test_stream_headers_keepalive_and_presence(alice: User) -> None:
    response = alice.get("/api/stream?device=device-a1", buffered=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    stream = chunks(response)
    text = read_until(stream, ": keepalive")
    assert 'event: presence\ndata: {"type":"presence","online":["alice"]}' in text
    response.close()


def test_events_carry_log_ids_and_resume_after_reconnect(
    alice: User, bob: User, tb: Talkbox
) -> None:
    response = alice.get("/api/stream?device=device-a1", buffered=False)
    stream = chunks(response)
    read_until(stream, "presence")
    b1 = Device(tb, "bob", "device-b1")
    alice.post("/api/calls", {"to": "bob", "device": "device-a1"})
    text = read_until(stream, "participant-joined")
    first_id = int(text.split("id: ")[1].split("\n")[0])
    response.close()

    (invite,) = b1.signals("invite")
    bob.post(f"/api/calls/{invite['call_id']}/reject", {"device": b1.id})
    bob.settle(tb)  # alice's device is away while the call ends

    again = alice.get(
        "/api/stream?device=device-a1", headers={"Last-Event-ID": str(first_id)}, buffered=False
    )
    replay = read_until(chunks(again), "conference-ended")
    assert f"id: {first_id}\n" not in replay
    assert "call-ringing" in replay or "call-ended" in replay
    assert "event: call" in replay
    again.close()
    assert (
        alice.get("/api/stream?device=device-a1", headers={"Last-Event-ID": "x"}).status_code == 400
    )


def test_a_new_stream_replaces_the_old_one(alice: User, tb: Talkbox) -> None:
    old = alice.get("/api/stream?device=device-a1", buffered=False)
    old_chunks = chunks(old)
    next(old_chunks)
    new = alice.get("/api/stream?device=device-a1", buffered=False)
    new_chunks = chunks(new)
    next(new_chunks)
    rest = list(old_chunks)  # the old stream ends instead of waiting for its keep-alive
    assert all("keepalive" not in c for c in rest[2:])
    assert tb.hub.devices("alice") == ["device-a1"]  # still online: the new stream holds it
    tb.hub.send("alice", {"type": "ping"})
    assert '"type":"ping"' in read_until(new_chunks, "ping")
    new.close()


def test_a_replaced_stream_is_told_before_it_ends(alice: User, tb: Talkbox) -> None:
    old = alice.get("/api/stream?device=device-a1", buffered=False)
    old_chunks = chunks(old)
    next(old_chunks)
    tb.hub.open("alice", "device-a1")  # another page takes the device id
    assert '{"type":"replaced"}' in "".join(old_chunks)


def test_a_user_may_hold_only_so_many_streams(alice: User, tb: Talkbox) -> None:
    for n in range(tb.hub.max_devices):
        tb.hub.open("alice", f"device-{n:04d}")
    response = alice.get("/api/stream?device=device-extra")
    assert response.status_code == 409
    assert tb.hub.open("alice", "device-0000")  # a known device may always come back


def test_events_of_another_switchboard_are_not_carried(alice: User, tb: Talkbox) -> None:
    from talkbox.store import MemoryStore
    from talkbox.switchboard import Switchboard
    from tests.fakes import FakeProvider

    a1 = Device(tb, "alice", "device-a1")
    other = Switchboard(MemoryStore(), FakeProvider(), run_effect=lambda work: work())
    other.dial("client:alice", "client:bob")
    assert a1.events() == []


def test_a_page_leaving_ends_only_its_own_stream(alice: User, tb: Talkbox) -> None:
    response = alice.get("/api/stream?device=device-a1", buffered=False)
    hello = read_until(chunks(response), '"type":"hello"')
    token = hello.split('"stream":"')[1].split('"')[0]
    wrong = alice.post("/api/devices/device-a1/away", {"stream": "not-this-one"})
    assert wrong.status_code == 204
    assert tb.hub.devices("alice") == ["device-a1"]
    assert alice.post("/api/devices/device-a1/away", {"stream": token}).status_code == 204
    assert tb.hub.devices("alice") == []
    assert alice.post("/api/devices/device-a1/away", {}).status_code == 400


def test_an_observer_gets_events_but_is_no_device(alice: User, tb: Talkbox, app: Any) -> None:
    """``talkbox watch`` opens an observer stream: it sees the user's calls, but it is not
    rung, does not make the user look online, and takes no device slot."""
    from tests.web.conftest import User as LoggedIn

    bob = LoggedIn(app, "bob")
    watcher = tb.hub.open("bob", "bobs-cli-watch", observer=True)
    assert tb.hub.devices("bob") == []
    assert "bob" not in tb.hub.online()
    Device(tb, "alice", "alices-laptop-1")
    call = {"to": "bob", "device": "alices-laptop-1"}
    offline = alice.post("/api/calls", json=call)
    assert offline.status_code == 409  # an observer cannot answer: bob is offline
    assert "bob is offline" in offline.json["message"]  # type: ignore[index]
    Device(tb, "bob", "bobs-laptop-1")
    placed = alice.post("/api/calls", json=call)
    assert placed.status_code == 201, placed.json
    seen = []
    while not watcher.messages.empty():
        item = watcher.messages.get_nowait()
        assert item is not None
        assert item[0] == "call"  # events only: no invite, no signalling
        seen.append(item[1]["type"])
    assert "conference-created" in seen
    stream = bob.get("/api/stream?device=bobs-cli-watch&observe=1", buffered=False)
    assert stream.status_code == 200
    stream.close()


def test_a_burst_of_logins_is_one_presence_message_not_one_each() -> None:
    import time

    from talkbox.store import MemoryStore
    from talkbox.web.stream import StreamHub

    hub = StreamHub(MemoryStore(), presence_delay=0.1)
    first = hub.open("user_0", "device-0000")
    for i in range(1, 30):
        hub.open(f"user_{i}", f"device-{i:04}")
    time.sleep(0.5)
    sent = []
    while not first.messages.empty():
        item = first.messages.get_nowait()
        if item is not None and item[0] == "presence":
            sent.append(item[1]["online"])
    assert 1 <= len(sent) <= 2
    assert len(sent[-1]) == 30
    hub.stop()


def test_a_stream_whose_opening_fails_is_not_left_behind() -> None:
    from talkbox.store import MemoryStore
    from talkbox.web.stream import StreamHub

    class Failing:
        def device_online(self, identity: str, device_id: str) -> None:
            raise RuntimeError("the store is down")

        def device_offline(self, identity: str, device_id: str) -> None:
            raise AssertionError("never opened, so never offline")

    hub = StreamHub(MemoryStore())
    hub.add_listener(Failing())
    try:
        hub.open("bob", "device-b1")
    except RuntimeError:
        pass
    else:
        raise AssertionError("the listener's failure must reach the request")
    assert hub.devices("bob") == []
    assert hub.online() == []
