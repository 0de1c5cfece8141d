"""Devices on several processes (two stream hubs sharing one Redis): who is online, delivery to
a device on the other process, and a process that dies without a word."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest

from talkbox.web.stream import DeviceStream, StreamHub
from tests.store.redis_fixture import redis_client, scratch_prefix

pytest.importorskip("redis")

from talkbox.store.redis_store import RedisStore
from talkbox.web.shared_hub import SharedDeviceHub


class Process:
    def __init__(self, prefix: str, heartbeat: float = 0.2) -> None:
        self.store = RedisStore(redis_client(), prefix=prefix)
        self.hub = StreamHub(self.store)
        self.shared = SharedDeviceHub(self.hub, self.store, heartbeat=heartbeat)
        self.hub.online_source = self.shared.online
        self.hub.add_listener(self.shared)
        self.shared.start()

    def die(self) -> None:
        """Threads stop; nothing is withdrawn (as after kill -9)."""
        self.shared._stop.set()
        for thread in self.shared._threads:
            thread.join(timeout=5)


@pytest.fixture
def processes() -> Iterator[tuple[Process, Process]]:
    with scratch_prefix() as prefix:
        a, b = Process(prefix), Process(prefix)
        yield a, b
        for p in (a, b):
            p.shared.stop()
            p.hub.stop()
            p.store.close()


def next_of(stream: DeviceStream, kind: str, timeout: float = 3.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            item = stream.messages.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {kind} message within {timeout}s") from None
        if item is not None and item[0] == kind:
            return item[1]


def test_a_device_on_b_is_online_and_reachable_from_a(processes: tuple[Process, Process]) -> None:
    a, b = processes
    alice = a.hub.open("alice", "tab-alice-1")
    bob = b.hub.open("bob", "tab-bob-1")
    assert a.shared.devices("bob") == ["tab-bob-1"]
    assert a.hub.online() == ["alice", "bob"] == b.hub.online()
    # alice's page hears that bob came online, on the other process.
    deadline = time.monotonic() + 3
    while "bob" not in next_of(alice, "presence")["online"]:
        assert time.monotonic() < deadline

    assert a.shared.send("bob", {"type": "invite", "leg": "leg_1"}, "tab-bob-1") == 1
    assert next_of(bob, "signal") == {"type": "invite", "leg": "leg_1"}
    assert a.shared.send("bob", {"type": "stop-ringing", "leg": "leg_1"}) == 1  # all devices
    assert next_of(bob, "signal")["type"] == "stop-ringing"
    assert a.shared.send("bob", {"type": "invite"}, "tab-bob-unknown") == 0


def test_a_process_that_dies_takes_its_devices_away(processes: tuple[Process, Process]) -> None:
    a, b = processes
    b.hub.open("bob", "tab-bob-1")
    assert a.shared.devices("bob") == ["tab-bob-1"]
    b.die()
    # Until the entry expires the device still counts, but nothing listens for it.
    assert a.shared.send("bob", {"type": "invite"}, "tab-bob-1") == 0
    deadline = time.monotonic() + 3
    while a.shared.devices("bob") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert a.shared.devices("bob") == []
    assert a.hub.online() == []


def test_a_device_that_moved_is_not_withdrawn_by_its_old_process(
    processes: tuple[Process, Process],
) -> None:
    a, b = processes
    old = b.hub.open("bob", "tab-bob-1")
    new = a.hub.open("bob", "tab-bob-1")  # reconnected through the other process
    # B is told at once and drops its stale stream, which would otherwise take bob's messages
    # until a write to it failed; withdrawing it does not withdraw bob's device on A.
    deadline = time.monotonic() + 3
    while not old.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert old.closed
    assert b.hub.devices("bob") == []
    assert a.shared.devices("bob") == ["tab-bob-1"]
    assert b.shared.send("bob", {"type": "hangup"}, "tab-bob-1") == 1
    assert next_of(new, "signal")["type"] == "hangup"


def test_a_page_leaving_through_the_other_process_ends_its_stream(
    processes: tuple[Process, Process],
) -> None:
    a, b = processes
    stream = b.hub.open("bob", "tab-bob-1")
    assert a.shared.away("bob", "tab-bob-1", "not-its-token") is True  # passed on to B...
    time.sleep(0.3)
    assert not stream.closed  # ...which checks the stream's token
    assert a.shared.away("bob", "tab-bob-1", stream.token) is True
    deadline = time.monotonic() + 3
    while not stream.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stream.closed
    assert b.hub.devices("bob") == []


def test_a_login_on_one_process_is_announced_to_the_others_at_once() -> None:
    with scratch_prefix() as prefix:
        # No heartbeat in time: only the announcement can tell A.
        a, b = Process(prefix, heartbeat=60), Process(prefix, heartbeat=60)
        try:
            alice = a.hub.open("alice", "tab-alice-1")
            time.sleep(0.5)  # alice's own presence message has gone out
            while not alice.messages.empty():
                alice.messages.get_nowait()
            b.hub.open("bob", "tab-bob-1")
            deadline = time.monotonic() + 1.5
            while "bob" not in next_of(alice, "presence", timeout=1.5)["online"]:
                assert time.monotonic() < deadline
        finally:
            for p in (a, b):
                p.shared.stop()
                p.hub.stop()
                p.store.close()


def test_a_page_back_on_its_first_process_keeps_its_new_stream(
    processes: tuple[Process, Process],
) -> None:
    """A→B→A within a moment: B's claim reaches A after the page is back on A; A drops only
    a stream older than B's claim, not the page's new one."""
    a, _ = processes
    back = a.hub.open("bob", "tab-bob-1")  # the page is back on A
    b_claimed_at = back.opened_at - 0.5  # B's claim, from before the page came back
    assert a.hub.drop("bob", "tab-bob-1", opened_before=b_claimed_at) is False
    assert not back.closed
    assert a.hub.drop("bob", "tab-bob-1", opened_before=back.opened_at + 0.5) is True
    assert back.closed


def test_login_failures_count_across_processes() -> None:
    from talkbox.web.auth import SharedLoginThrottle, TooManyAttempts

    with scratch_prefix() as prefix:
        a = SharedLoginThrottle(redis_client(), prefix, limit=3, window=60)
        b = SharedLoginThrottle(redis_client(), prefix, limit=3, window=60)
        a.failed("name:bob", "addr:10.0.0.7")
        b.failed("name:bob", "addr:10.0.0.7")
        a.check("name:bob", "addr:10.0.0.7")  # two failures: still allowed
        b.failed("name:bob", "addr:10.0.0.8")
        for throttle in (a, b):  # three failures for bob, on two processes: refused on both
            with pytest.raises(TooManyAttempts, match="try again in"):
                throttle.check("name:bob")
        a.check("addr:10.0.0.8")  # that address failed once only
        b.succeeded("name:bob")
        a.check("name:bob")
