"""What the Redis store adds to the contract: expiry, cross-process atomicity, the channel."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest

from talkbox import events as ev
from talkbox.model import CallStatus, Conference, ConferenceStatus, EndReason
from talkbox.store import open_store
from talkbox.store.redis_store import RedisStore, parse_entry
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeProvider, Phone
from tests.store.redis_fixture import REDIS_URL, redis_client, scratch_prefix
from tests.store.test_contract import created, room


@pytest.fixture
def prefix() -> Iterator[str]:
    with scratch_prefix() as name:
        yield name


def two_stores(prefix: str, **kw: int) -> tuple[RedisStore, RedisStore]:
    """Two stores with their own connections: two server processes, as far as Redis knows."""
    return (
        RedisStore(redis_client(), prefix=prefix, **kw),
        RedisStore(redis_client(), prefix=prefix, **kw),
    )


def test_two_processes_updating_one_room_lose_nothing(prefix: str) -> None:
    a, b = two_stores(prefix)
    a.add(room())

    def bump(c: Conference) -> tuple[Conference, list[ev.Event]]:
        tick = ev.ConferenceStarted(at=float(c.sequence or 0), conference_id=c.id)
        return dataclasses.replace(c, sequence=(c.sequence or 0) + 1), [tick]

    workers = [
        threading.Thread(target=lambda s=s: [s.update("conf_1", bump) for _ in range(100)])
        for s in (a, b, a, b)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert b.get("conf_1").sequence == 400
    log = a.events(limit=10_000)
    assert [e.id for e in log] == list(range(1, 401))  # ids in commit order, no gaps
    assert [e.event.at for e in log] == [float(n) for n in range(400)]  # one commit per id


def test_ended_rooms_expire_but_history_stays(prefix: str) -> None:
    store, _ = two_stores(prefix, ended_ttl=60)
    conf = room()
    store.add(conf, [created(conf)])
    client = store.client
    assert client.ttl(f"{prefix}:conf:conf_1") == -1  # live: no expiry
    ended = ev.ConferenceEnded(
        at=2.0,
        conference_id="conf_1",
        owner="client:alice",
        reason=EndReason.COMPLETED,
        party=None,
        parties=("client:alice", "client:bob"),
        duration=1.0,
        created_at=1.0,
    )
    store.update("conf_1", lambda c: (c.with_status(ConferenceStatus.ENDED), [ended]))
    assert 0 < client.ttl(f"{prefix}:conf:conf_1") <= 60
    assert 0 < client.ttl(f"{prefix}:lookup:call:conf_1_call1") <= 60
    assert store.live() == []
    client.delete(f"{prefix}:conf:conf_1")  # as if the expiry had passed
    assert [e.event for e in store.history(party="client:bob")] == [ended]


def test_every_committed_event_is_published_in_order(prefix: str) -> None:
    store, _ = two_stores(prefix)
    pubsub = store.client.pubsub()
    pubsub.subscribe(store.channel)
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"  # type: ignore[index]
    for i in range(3):
        conf = room(f"conf_{i}")
        store.add(conf, [created(conf)])
    got = []
    while len(got) < 3:
        message = pubsub.get_message(timeout=2)
        assert message is not None
        got.append(parse_entry(message["data"]))
    assert got == store.events()
    pubsub.close()


def test_open_store_reads_prefix_and_ttl_from_the_url(prefix: str) -> None:
    store = open_store(f"{REDIS_URL}?prefix={prefix}&ended_ttl=120")
    assert isinstance(store, RedisStore)
    assert (store.prefix, store.ended_ttl) == (prefix, 120)
    store.close()


def test_redis_survives_a_restart_with_live_calls_intact(prefix: str) -> None:
    first, _ = two_stores(prefix)
    clock, provider = Clock(), FakeProvider()
    board = Switchboard(first, provider, clock=clock, run_effect=lambda w: w())
    conf = board.dial("client:alice", "client:bob")
    alice = Phone("CA0001", conf.id)
    board.apply(alice.status(CallStatus.IN_PROGRESS, clock.tick()))
    before = first.live(), first.events()
    first.close()
    second = RedisStore(redis_client(), prefix=prefix)
    assert (second.live(), second.events()) == before
    board = Switchboard(second, provider, clock=clock, run_effect=lambda w: w())
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=4))
    assert second.get(conf.id).status is ConferenceStatus.ENDED


def test_many_threads_wait_for_a_connection_instead_of_failing(prefix: str) -> None:
    """Hundreds of event streams opening at once must queue for the pool's connections (the
    default redis-py pool raised MaxConnectionsError, seen as HTTP 500s under load)."""
    store = open_store(f"{REDIS_URL}?prefix={prefix}&max_connections=4")
    assert isinstance(store, RedisStore)
    pool = store.client.connection_pool
    assert type(pool).__name__ == "BlockingConnectionPool"
    assert pool.max_connections == 4
    errors: list[Exception] = []

    def read() -> None:
        try:
            for _ in range(20):
                store.history(limit=1)
        except Exception as exc:  # the assertion below reports it
            errors.append(exc)

    workers = [threading.Thread(target=read) for _ in range(32)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    store.close()
