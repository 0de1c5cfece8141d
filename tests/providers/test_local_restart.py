"""The local provider's legs outlive its process: a restarted server takes them up from the store,
its browsers get their calls back, and the sweep ends what nobody comes back for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from talkbox.model import CallStatus, ConferenceStatus, EndReason
from talkbox.providers.local import LocalProvider
from talkbox.store import SQLiteStore, Store
from talkbox.switchboard import Switchboard
from tests.fakes import Clock, FakeHub, ManualTimers


def inline(work):  # type: ignore[no-untyped-def]
    work()


class Server:
    """One server process: provider, switchboard and hub over a store it may share."""

    def __init__(self, store: Store, hub: FakeHub, clock: Clock) -> None:
        self.hub = hub
        self.timers = ManualTimers()
        self.provider = LocalProvider(
            ring_timeout=30, grace=5, schedule=self.timers, clock=clock, sweep_every=2
        )
        self.board = Switchboard(store, self.provider, run_effect=inline, clock=clock)
        self.provider.connect(hub, self.board.apply, store)

    def online(self, identity: str, *devices: str) -> None:
        self.hub.connected.setdefault(identity, []).extend(devices)
        for device in devices:
            self.provider.device_online(identity, device)

    def call(self, caller: str, device: str, to: str) -> tuple[str, str]:
        leg = self.provider.originate(caller, device)
        conf = self.board.incoming(
            f"client:{caller}", to, provider_call_id=leg, status=CallStatus.IN_PROGRESS
        )
        self.provider.attach(leg, conf.id, conf.caller.id)
        self.provider.drain()
        return conf.id, leg

    def answer(self, identity: str, device: str) -> str:
        invite = next(m for m in reversed(self.hub.to(device)) if m["type"] == "invite")
        call_id = str(invite["call_id"])
        self.provider.accept(identity, device, call_id)
        self.provider.drain()
        return call_id

    def crash(self) -> None:
        """The process dies: its timers and threads with it; nothing is cleaned up."""
        self.timers.pending.clear()
        self.provider.close()


def alice_calls_bob(db: Path, clock: Clock, *, answered: bool) -> tuple[Server, str, str]:
    """On a first server: alice's tab calls bob's tab (which answers, if ``answered``);
    returns that server, the room and alice's leg."""
    first = Server(SQLiteStore(db), FakeHub(), clock)
    first.online("alice", "a1")
    first.online("bob", "b1")
    conf_id, alice_leg = first.call("alice", "a1", "client:bob")
    if answered:
        first.answer("bob", "b1")
    return first, conf_id, alice_leg


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "talkbox.db"


def test_a_restarted_server_gives_an_answered_call_back_to_its_devices(db: Path) -> None:
    clock = Clock()
    first, conf_id, alice_leg = alice_calls_bob(db, clock, answered=True)
    first.board.mute(first.board.get(conf_id).calls[1].id)
    first.provider.drain()
    first.crash()

    clock.tick(2)
    again = Server(SQLiteStore(db), FakeHub(), clock)
    live = again.provider.live()
    assert {c.status for c in live.calls} == {CallStatus.IN_PROGRESS}
    assert len(live.calls) == 2
    assert again.board.reconcile().closed == []  # nothing the provider lost

    again.online("alice", "a1")
    again.online("bob", "b1")
    resume = [m for m in again.hub.to("b1") if m["type"] == "resume"]
    assert resume
    assert resume[0]["muted"] is True
    assert [p["leg"] for p in resume[0]["peers"]] == [alice_leg]  # type: ignore[index]
    # The restarted process's reports still count as newer than the first process's.
    again.board.hangup(again.board.get(conf_id).caller.id)
    again.provider.drain()
    conf = again.board.get(conf_id)
    assert conf.status is ConferenceStatus.ENDED
    assert conf.end_reason is EndReason.COMPLETED
    assert "hangup" in again.hub.types("a1")
    assert "peer-left" in again.hub.types("b1")
    assert SQLiteStore(db).provider_state("local") == {}  # ended legs are not kept


def test_legs_nobody_comes_back_for_end_after_the_grace_period(db: Path) -> None:
    clock = Clock()
    first, conf_id, _ = alice_calls_bob(db, clock, answered=True)
    first.crash()

    again = Server(SQLiteStore(db), FakeHub(), clock)
    again.online("alice", "a1")  # only alice's tab comes back
    again.provider.sweep()
    clock.tick(4)
    again.provider.sweep()
    assert again.board.get(conf_id).status is not ConferenceStatus.ENDED  # still in grace
    clock.tick(2)
    again.timers.fire(2)  # the sweep timer
    again.provider.drain()
    conf = again.board.get(conf_id)
    assert conf.calls[1].status is CallStatus.FAILED
    assert conf.status is ConferenceStatus.ENDED
    assert "peer-left" in again.hub.types("a1")


def test_a_ring_outlives_a_restart_and_still_times_out(db: Path) -> None:
    clock = Clock()
    first, conf_id, _ = alice_calls_bob(db, clock, answered=False)
    first.crash()

    clock.tick(10)
    again = Server(SQLiteStore(db), FakeHub(), clock)
    again.online("bob", "b1")
    assert again.hub.types("b1") == ["invite"]  # rings again on the restarted server
    (timer,) = [t for t in again.timers.pending if t.delay == 20]  # what was left of 30 s
    clock.tick(20)
    timer.fn()
    again.provider.drain()
    assert again.board.get(conf_id).end_reason is EndReason.NO_ANSWER


def test_a_sweep_ends_a_ring_whose_process_died(db: Path) -> None:
    """No process's timer is left to end the ring: the sweep does, at the saved deadline."""
    clock = Clock()
    first, conf_id, _ = alice_calls_bob(db, clock, answered=False)
    first.crash()
    again = Server(SQLiteStore(db), FakeHub(), clock)
    again.timers.pending.clear()  # as if the ring timer were another process's
    clock.tick(29)
    again.provider.sweep()
    assert again.provider.live().calls
    clock.tick(1)
    again.provider.sweep()
    again.provider.drain()
    assert again.board.get(conf_id).end_reason is EndReason.NO_ANSWER


# -- several processes sharing a Redis store ---------------------------------------------------
@pytest.fixture
def redis_stores() -> Iterator[tuple[Store, Store]]:
    from talkbox.store.redis_store import RedisStore
    from tests.store.redis_fixture import redis_client, scratch_prefix

    with scratch_prefix() as prefix:
        a, b = RedisStore(redis_client(), prefix=prefix), RedisStore(redis_client(), prefix=prefix)
        yield a, b
        a.close()
        b.close()


def test_a_call_placed_through_one_process_is_answered_through_another(
    redis_stores: tuple[Store, Store],
) -> None:
    clock = Clock()
    devices = FakeHub()  # every process's devices (what SharedDeviceHub gives each process)
    a, b = Server(redis_stores[0], devices, clock), Server(redis_stores[1], devices, clock)
    a.online("alice", "a1")
    b.online("bob", "b1")
    conf_id, alice_leg = a.call("alice", "a1", "client:bob")
    call_id = b.answer("bob", "b1")  # B never saw the leg being placed: it reads it
    bob_call = b.board.get(conf_id).calls[1]
    assert bob_call.id == call_id
    assert bob_call.status is CallStatus.IN_PROGRESS
    assert a.board.get(conf_id) == b.board.get(conf_id)  # one state, whoever reads it
    media = next(m for m in devices.to("b1") if m["type"] == "invite")
    b.provider.relay("bob", "b1", {"type": "offer", "leg": media["leg"], "to": alice_leg})
    assert devices.types("a1")[-1] == "offer"

    a.crash()
    b.board.hangup(bob_call.id)  # the call goes on, and ends, through B
    b.provider.drain()
    assert b.board.get(conf_id).status is ConferenceStatus.ENDED
    assert "peer-left" in devices.types("a1")
    assert redis_stores[1].provider_state("local") == {}


def test_two_devices_accepting_on_two_processes_at_once_one_wins(
    redis_stores: tuple[Store, Store],
) -> None:
    import threading

    from talkbox.errors import Conflict

    clock = Clock()
    devices = FakeHub()
    a, b = Server(redis_stores[0], devices, clock), Server(redis_stores[1], devices, clock)
    a.online("alice", "a1")
    a.online("bob", "b1")
    b.online("bob", "b2")
    conf_id, _ = a.call("alice", "a1", "client:bob")
    invite = next(m for m in devices.to("b2") if m["type"] == "invite")
    outcomes: list[str] = []

    def accept(server: Server, device: str) -> None:
        try:
            server.provider.accept("bob", device, str(invite["call_id"]))
            outcomes.append(device)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=accept, args=(s, d)) for s, d in ((a, "b1"), (b, "b2"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("conflict") == 1
    winner = next(o for o in outcomes if o != "conflict")
    loser = "b1" if winner == "b2" else "b2"
    assert "stop-ringing" in devices.types(loser)
    a.provider.drain()
    b.provider.drain()
    assert a.board.get(conf_id).calls[1].status is CallStatus.IN_PROGRESS
