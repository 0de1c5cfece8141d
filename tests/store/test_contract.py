"""One contract, every store: memory and SQLite must behave the same."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from talkbox import events as ev
from talkbox.errors import Conflict, NotFound
from talkbox.model import (
    Call,
    CallStatus,
    Conference,
    ConferenceStatus,
    Endpoint,
    EndReason,
    Role,
    Transfer,
)
from talkbox.store import MemoryStore, SQLiteStore, Store, open_store
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeProvider, Phone
from tests.store.redis_fixture import redis_store


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "redis":
        yield from redis_store(request)
        return
    s: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "t.db")
    yield s
    s.close()


def room(conf_id: str = "conf_1", *, party: str = "client:bob", at: float = 10.0) -> Conference:
    conf = Conference(
        id=conf_id,
        owner=Endpoint.client("alice"),
        status=ConferenceStatus.CREATED,
        created_at=at,
        tags=(("number", "+14155552671"),),
    )
    for i, who in enumerate(["client:alice", party]):
        conf = conf.with_call(
            Call(
                id=f"{conf_id}_call{i}",
                conference_id=conf_id,
                endpoint=Endpoint.parse(who),
                role=Role.CALLER if i == 0 else Role.CALLEE,
                status=CallStatus.INITIATED if i == 0 else CallStatus.QUEUED,
                created_at=at,
                provider_id=f"CA{conf_id}{i}" if i == 0 else None,
            )
        )
    return conf


def created(conf: Conference) -> ev.Event:
    return ev.ConferenceCreated(at=conf.created_at, conference_id=conf.id, owner="client:alice")


def test_add_get_and_find(store: Store) -> None:
    conf = room()
    logged = store.add(conf, [created(conf)])
    assert store.get("conf_1") == conf
    assert [e.event for e in logged] == [created(conf)]
    assert logged[0].parties == {"client:alice", "client:bob"}
    assert store.find(call_id="conf_1_call1") == "conf_1"
    assert store.find(provider_call_id="CAconf_10") == "conf_1"
    assert store.find(call_id="nope") is None
    assert store.find() is None


def test_duplicate_ids_and_unknown_ids(store: Store) -> None:
    store.add(room())
    with pytest.raises(Conflict):
        store.add(room())
    with pytest.raises(NotFound):
        store.get("conf_nope")
    with pytest.raises(NotFound):
        store.update("conf_nope", lambda c: (c, []))


def test_update_is_atomic_with_its_events(store: Store) -> None:
    conf = room()
    store.add(conf)
    call = dataclasses.replace(conf.calls[1], provider_id="CA2", status=CallStatus.RINGING)
    ringing = ev.CallRinging(
        at=11.0, conference_id="conf_1", call_id=call.id, endpoint="client:bob"
    )
    new, logged = store.update("conf_1", lambda c: (c.with_call(call), [ringing]))
    assert store.get("conf_1") == new
    assert store.find(provider_call_id="CA2") == "conf_1"
    assert [e.event for e in logged] == [ringing]

    def broken(c: Conference) -> tuple[Conference, list[ev.Event]]:
        raise RuntimeError("rules failed half-way")

    with pytest.raises(RuntimeError):
        store.update("conf_1", broken)
    assert store.get("conf_1") == new
    assert [e.event for e in store.events()] == [ringing]
    unchanged, nothing = store.update("conf_1", lambda c: None)
    assert unchanged == new
    assert nothing == []


def test_every_field_survives(store: Store) -> None:
    conf = room()
    store.add(conf)
    rich = dataclasses.replace(
        conf.with_call(
            dataclasses.replace(
                conf.calls[1],
                status=CallStatus.BUSY,
                end_reason=EndReason.REJECTED,
                ended_at=12.5,
                answered_at=None,
                duration=0.0,
                sequence=4,
                ring_group="ring_x",
            )
        ),
        status=ConferenceStatus.ENDING,
        provider_id="CFabc",
        started_at=11.0,
        sequence=9,
        end_party=Endpoint.parse("+14155552671"),
        end_reason=EndReason.BUSY,
        transfer=Transfer("a", "b", ("c",)),
    )
    rich = rich.with_participant(dataclasses.replace(rich.participants[0], muted=True, sequence=3))
    store.update("conf_1", lambda c: (rich, []))
    assert store.get("conf_1") == rich
    assert store.find(provider_conference_id="CFabc") == "conf_1"


def test_live_lists_unended_rooms_oldest_first(store: Store) -> None:
    store.add(room("conf_b", at=20.0))
    store.add(room("conf_a", at=10.0))
    store.add(room("conf_c", at=30.0))
    store.update("conf_c", lambda c: (c.with_status(ConferenceStatus.ENDED), []))
    assert [c.id for c in store.live()] == ["conf_a", "conf_b"]


def test_event_log_is_ordered_and_filtered_by_party(store: Store) -> None:
    for i, party in enumerate(["client:bob", "client:carol", "client:bob_2"]):
        conf = room(f"conf_{i}", party=party)
        store.add(conf, [created(conf)])
    every = store.events()
    assert [e.id for e in every] == sorted(e.id for e in every)
    assert [e.event.conference_id for e in every] == ["conf_0", "conf_1", "conf_2"]  # type: ignore[attr-defined]
    assert [e.event.conference_id for e in store.events(party="client:bob")] == ["conf_0"]  # type: ignore[attr-defined]
    assert [e.event.conference_id for e in store.events(after=every[0].id)] == ["conf_1", "conf_2"]  # type: ignore[attr-defined]
    assert len(store.events(limit=2)) == 2
    assert store.events(party="client:nobody") == []


def test_history_newest_first(store: Store) -> None:
    for i, party in enumerate(["client:bob", "client:carol", "client:bob"]):
        conf = room(f"conf_{i}", party=party)
        ended = ev.ConferenceEnded(
            at=50.0 + i,
            conference_id=conf.id,
            owner="client:alice",
            reason=EndReason.COMPLETED,
            party=None,
            parties=("client:alice", party),
            duration=3.0,
            created_at=10.0,
        )
        store.add(conf, [created(conf), ended])
    bobs = store.history(party="client:bob")
    assert [e.event.conference_id for e in bobs] == ["conf_2", "conf_0"]  # type: ignore[attr-defined]
    assert len(store.history()) == 3
    assert len(store.history(limit=1)) == 1
    older = store.history(before=bobs[0].id)
    assert [e.event.conference_id for e in older] == ["conf_1", "conf_0"]  # type: ignore[attr-defined]


def test_concurrent_updates_lose_nothing(store: Store) -> None:
    store.add(room())

    def bump(c: Conference) -> tuple[Conference, list[ev.Event]]:
        return dataclasses.replace(c, sequence=(c.sequence or 0) + 1), []

    threads = [
        threading.Thread(target=lambda: [store.update("conf_1", bump) for _ in range(50)])
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("conf_1").sequence == 400


def test_sqlite_survives_a_restart_with_live_calls_intact(tmp_path: Path) -> None:
    """Close and reopen the file mid-call: every room, leg and membership is as it was, and
    the switchboard carries on applying reports to them."""
    path = tmp_path / "talkbox.db"
    clock, provider = Clock(), FakeProvider()
    store = SQLiteStore(path)
    board = Switchboard(store, provider, clock=clock, run_effect=lambda w: w())
    conf = board.dial("client:alice", "+14155552671")
    alice, bob = Phone("CA0001", conf.id), Phone("CA0002", conf.id)
    board.apply(alice.status(CallStatus.IN_PROGRESS, clock.tick()))
    board.apply(alice.member(ev_change("joined"), clock.tick(), 1))
    board.apply(bob.status(CallStatus.IN_PROGRESS, clock.tick()))
    board.apply(bob.member(ev_change("joined"), clock.tick(), 2))
    board.apply(bob.member(ev_change("muted"), clock.tick(), 3))
    other = board.dial("client:carol", "client:dave")
    before_live, before_log = store.live(), store.events()
    store.close()

    reopened = SQLiteStore(path)
    assert reopened.live() == before_live
    assert reopened.events() == before_log
    board = Switchboard(reopened, provider, clock=clock, run_effect=lambda w: w())
    board.apply(bob.status(CallStatus.COMPLETED, clock.tick(), duration=9))
    board.apply(alice.status(CallStatus.COMPLETED, clock.tick(), duration=10))
    assert reopened.get(conf.id).status is ConferenceStatus.ENDED
    assert [c.id for c in reopened.live()] == [other.id]
    assert board.history("+14155552671")[0].duration == 10
    reopened.close()


def ev_change(name: str):  # type: ignore[no-untyped-def]
    from talkbox.providers.base import ParticipantChange

    return ParticipantChange(name)


def test_sqlite_uses_wal_and_refuses_newer_schemas(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "x.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer talkbox"):
        SQLiteStore(path)


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from talkbox.errors import ConfigError

    assert isinstance(open_store("memory"), MemoryStore)
    absolute = open_store(f"sqlite:///{tmp_path}/a.db")  # sqlite:////abs/a.db
    assert isinstance(absolute, SQLiteStore)
    assert absolute.path == tmp_path / "a.db"
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel.db")
    assert isinstance(relative, SQLiteStore)
    assert relative.path == Path("rel.db")
    for bad in ("postgres://x", "sqlite:", "sqlite://host/x"):
        with pytest.raises(ConfigError):
            open_store(bad)


def test_provider_state_saves_replaces_and_deletes_per_provider(store: Store) -> None:
    assert store.provider_state("local") == {}
    store.put_provider_state("local", {"leg_1": '{"a": 1}', "leg_2": "two"})
    store.put_provider_state("other", {"leg_1": "not local's"})
    store.put_provider_state("local", {"leg_1": '{"a": 2}', "leg_2": None, "leg_3": "3"})
    assert store.provider_state("local") == {"leg_1": '{"a": 2}', "leg_3": "3"}
    assert store.provider_state("other") == {"leg_1": "not local's"}
    store.put_provider_state("local", {"missing": None})  # deleting nothing is fine
    assert len(store.provider_state("local")) == 2


def test_lock_excludes_other_threads(store: Store) -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    def work(n: int) -> None:
        for _ in range(20):
            with store.lock("test-lock", timeout=5):
                inside.append(n)
                if len(inside) > 1:
                    overlaps.append(n)
                inside.remove(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []


def test_sqlite_provider_state_survives_a_restart(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "t.db")
    first.put_provider_state("local", {"leg_1": "held by tab 1"})
    first.close()
    again = SQLiteStore(tmp_path / "t.db")
    assert again.provider_state("local") == {"leg_1": "held by tab 1"}
    again.close()


def test_provider_state_locked_reads_writes_and_skips_what_it_knows(store: Store) -> None:
    store.put_provider_state("local", {"leg_1": "one"})
    with store.provider_state_locked("local", None) as state:
        assert state.entries == {"leg_1": "one"}
        state.changes = {"leg_2": "two", "leg_1": None}
    known = state.version
    with store.provider_state_locked("local", known) as again:
        # Unchanged since ``known``: a store with versions need not send the entries again.
        assert again.entries in (None, {"leg_2": "two"})
    assert again.version == known
    store.put_provider_state("local", {"leg_2": None})  # another process empties it
    with store.provider_state_locked("local", known) as fresh:
        assert fresh.entries == {}  # changed meanwhile: read again, even though empty
    assert store.provider_state("local") == {}
