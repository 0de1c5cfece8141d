"""Two "server processes" (each a store with its own connection, a switchboard and a bridge)
sharing one Redis: each process's subscribers see every event exactly once, in log order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from talkbox import events as ev
from talkbox.model import CallStatus
from talkbox.providers.base import ParticipantChange
from talkbox.store.redis_bridge import RedisBridge
from talkbox.store.redis_store import RedisStore
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeProvider, Phone
from tests.store.redis_fixture import redis_client, scratch_prefix


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class Process:
    """What one server process has: its store, switchboard, bridge and a subscriber."""

    def __init__(self, prefix: str, provider: FakeProvider, clock: Clock) -> None:
        self.store = RedisStore(redis_client(), prefix=prefix)
        self.board = Switchboard(self.store, provider, clock=clock, run_effect=lambda w: w())
        self.bridge = RedisBridge(self.store, poll=0.05).start()
        self.seen: list[tuple[int, str]] = []
        ev.event_published.connect(self.receive)

    def receive(self, sender: Any, **kw: Any) -> None:
        if sender is self.board or sender is self.bridge:  # this process's publishers only
            self.seen.append((kw["event_id"], kw["event"].name))

    def close(self) -> None:
        ev.event_published.disconnect(self.receive)
        self.bridge.stop()
        self.store.close()


@pytest.fixture
def pair() -> Iterator[tuple[Process, Process]]:
    provider, clock = FakeProvider(), Clock()
    with scratch_prefix() as prefix:
        a, b = Process(prefix, provider, clock), Process(prefix, provider, clock)
        yield a, b
        a.close()
        b.close()


def test_events_made_in_one_process_reach_the_other_exactly_once(
    pair: tuple[Process, Process],
) -> None:
    a, b = pair
    conf = a.board.dial("client:alice", "client:bob")  # a webhook hits process A ...
    alice = Phone("CA0001", conf.id)
    b.board.apply(alice.status(CallStatus.IN_PROGRESS, 1.0))  # ... the next one hits B
    a.board.apply(alice.member(ParticipantChange.JOINED, 2.0, 1))
    b.board.apply(Phone("CA0002", conf.id).status(CallStatus.BUSY, 3.0))
    a.board.apply(alice.status(CallStatus.COMPLETED, 4.0, duration=2))
    total = a.store.last_event_id()
    assert wait_for(lambda: len(a.seen) == total and len(b.seen) == total)
    time.sleep(0.2)  # nothing more arrives late
    expected = [(e.id, e.event.name) for e in a.store.events()]
    assert sorted(a.seen) == expected  # exactly once each
    assert sorted(b.seen) == expected
    assert expected[-1][1] == "conference-ended"


def test_a_dropped_message_is_read_back_from_the_log(pair: tuple[Process, Process]) -> None:
    a, b = pair
    b.bridge.stop()  # B misses everything for a while (a lost subscription)
    a.board.dial("client:alice", "client:bob")
    a.board.dial("client:carol", "client:dave")
    total = a.store.last_event_id()
    assert b.seen == []
    # The next message B gets is far ahead; it fetches the gap from the log first.
    a.board.dial("client:erin", "client:frank")
    origin, last = a.store.raw_events(total)[-1]
    message = {"id": last.id, "origin": origin, "parties": [], "event": ev.to_dict(last.event)}
    b.bridge.receive(json.dumps(message))
    assert [n for n, _ in b.seen] == list(range(1, last.id + 1))
