"""Benchmarks of the core: report application per store, memory per live call, CLI start-up.

Each returns :class:`Figure` rows; the runner prints them and writes JSON. Every figure is
measured next to a baseline taken in the same run, because these machines are noisy.
"""

from __future__ import annotations

import gc
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talkbox.model import CallStatus
from talkbox.providers.base import CallReport, ParticipantChange, ParticipantReport
from talkbox.store import MemoryStore, SQLiteStore, Store
from talkbox.switchboard import Switchboard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fakes import FakeProvider


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def call_reports(conference_id: str, caller: str, callee: str) -> Iterator[Any]:
    """The reports a provider sends for one two-party call that talks, then hangs up."""
    t = 1_700_000_000.0
    yield CallReport(CallStatus.RINGING, t, provider_call_id=caller, sequence=1)
    yield CallReport(CallStatus.IN_PROGRESS, t + 1, provider_call_id=caller, sequence=2)
    yield ParticipantReport(
        ParticipantChange.JOINED,
        t + 2,
        conference_id=conference_id,
        provider_call_id=caller,
        sequence=1,
        muted=False,
        on_hold=False,
    )
    yield CallReport(CallStatus.RINGING, t + 3, provider_call_id=callee, sequence=1)
    yield CallReport(CallStatus.IN_PROGRESS, t + 4, provider_call_id=callee, sequence=2)
    yield ParticipantReport(
        ParticipantChange.JOINED,
        t + 5,
        conference_id=conference_id,
        provider_call_id=callee,
        sequence=2,
        muted=False,
        on_hold=False,
    )
    yield ParticipantReport(
        ParticipantChange.MODIFIED,
        t + 6,
        conference_id=conference_id,
        provider_call_id=callee,
        sequence=3,
        muted=True,
        on_hold=False,
    )
    yield ParticipantReport(
        ParticipantChange.LEFT,
        t + 60,
        conference_id=conference_id,
        provider_call_id=callee,
        sequence=4,
        muted=True,
        on_hold=False,
    )
    yield CallReport(CallStatus.COMPLETED, t + 60, provider_call_id=callee, sequence=3, duration=56)
    yield ParticipantReport(
        ParticipantChange.LEFT,
        t + 61,
        conference_id=conference_id,
        provider_call_id=caller,
        sequence=5,
    )
    yield CallReport(CallStatus.COMPLETED, t + 61, provider_call_id=caller, sequence=3, duration=60)


def apply_rate(store: Store, calls: int, threads: int = 1) -> float:
    """Reports applied per second through the switchboard (rules, store, events); with
    ``threads`` > 1, that many threads apply the reports of different rooms at once, as a
    threaded web server does."""
    provider = FakeProvider()
    board = Switchboard(store, provider, run_effect=lambda work: work())
    work = []
    for i in range(calls):
        conf = board.dial(f"client:caller_{i}", f"client:callee_{i}")
        caller = conf.caller.provider_id
        assert caller is not None
        # The fake numbers legs in placement order: every caller now, each callee when its
        # caller joins (room by room below).
        work.append((conf.id, caller, f"CA{calls + i + 1:04d}"))
    reports = [r for conf_id, a, b in work for r in call_reports(conf_id, a, b)]
    gc.collect()
    if threads == 1:
        start = time.perf_counter()
        for report in reports:
            board.apply(report)
        elapsed = time.perf_counter() - start
    else:
        # Callee ids follow the order callers join: the callers' first reports go in room
        # order, then each thread applies the rest of its own rooms in parallel.
        per_room = [list(call_reports(c, a, b)) for c, a, b in work]
        for room in per_room:
            for report in room[:3]:
                board.apply(report)

        def run(group: list[list[Any]]) -> None:
            for room in group:
                for report in room[3:]:
                    board.apply(report)

        workers = [
            threading.Thread(target=run, args=(per_room[i::threads],)) for i in range(threads)
        ]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        reports = [r for room in per_room for r in room[3:]]
    board.close()
    ended = sum(1 for conf_id, _, _ in work if store.get(conf_id).status.value == "ended")
    assert ended == calls, f"only {ended} of {calls} calls ended: the workload is wrong"
    return len(reports) / elapsed


def dict_rate(n: int) -> float:
    """The floor: the same number of updates to a plain dict."""
    d: dict[str, int] = {}
    keys = [f"conf_{i % 1000}" for i in range(n)]
    start = time.perf_counter()
    for i, key in enumerate(keys):
        d[key] = i
    return n / (time.perf_counter() - start)


def redis_store() -> Store | None:
    try:
        import redis

        from talkbox.store.redis_store import RedisStore

        client = redis.Redis.from_url("redis://127.0.0.1:6379/14", decode_responses=True)
        client.ping()
    except Exception:
        return None
    return RedisStore(client, prefix=f"tbbench_{secrets.token_hex(4)}")


def drop_redis(store: Store) -> None:
    from talkbox.store.redis_store import RedisStore

    assert isinstance(store, RedisStore)
    keys = list(store.client.scan_iter(f"{store.prefix}:*"))
    for i in range(0, len(keys), 1000):
        store.client.delete(*keys[i : i + 1000])
    store.close()


def bench_apply(smoke: bool) -> list[Figure]:
    calls = 30 if smoke else 2000
    floor = dict_rate(calls * 11)
    goals = {"memory": 20_000, "sqlite": 3_000, "redis": 5_000}
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        makers: dict[str, Callable[[], Store | None]] = {
            "memory": MemoryStore,
            "sqlite": lambda: SQLiteStore(Path(tmp) / "bench.db"),
            "redis": redis_store,
        }
        for name, make in makers.items():
            store = make()
            if store is None:
                figures.append(
                    Figure(
                        f"reports applied/s ({name})",
                        float("nan"),
                        "reports/s",
                        goal="no Redis server on 127.0.0.1:6379",
                    )
                )
                continue
            rate = apply_rate(store, calls)
            if name == "redis":
                drop_redis(store)
            else:
                store.close()
            figures.append(
                Figure(
                    f"reports applied/s ({name})",
                    rate,
                    "reports/s",
                    floor,
                    "dict update",
                    f">= {goals[name]:,}/s",
                    rate >= goals[name],
                )
            )
            if name == "redis":
                # One synchronous round trip per report caps a single thread (a bare GET from
                # Python runs at ~7k/s here); a threaded server applies reports concurrently.
                threaded = redis_store()
                assert threaded is not None
                rate4 = apply_rate(threaded, calls, threads=4)
                drop_redis(threaded)
                figures.append(
                    Figure(
                        "reports applied/s (redis, 4 threads)",
                        rate4,
                        "reports/s",
                        floor,
                        "dict update",
                        f">= {goals[name]:,}/s",
                        rate4 >= goals[name],
                    )
                )
    return figures


def bench_memory(smoke: bool) -> list[Figure]:
    """Memory per live call: rooms with the caller in and the callee ringing."""
    calls = 200 if smoke else 10_000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = MemoryStore()
    board = Switchboard(store, FakeProvider(), run_effect=lambda work: work())
    for i in range(calls):
        conf = board.dial(f"client:caller_{i}", f"client:callee_{i}")
        caller = conf.caller.provider_id
        board.apply(CallReport(CallStatus.IN_PROGRESS, provider_call_id=caller, sequence=1))
        board.apply(
            ParticipantReport(
                ParticipantChange.JOINED, conference_id=conf.id, provider_call_id=caller, sequence=1
            )
        )
        callee = store.get(conf.id).calls[1].provider_id  # placed when the caller joined
        board.apply(CallReport(CallStatus.RINGING, provider_call_id=callee, sequence=1))
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    live = store.live()
    assert len(live) == calls
    assert all(c.calls[1].status is CallStatus.RINGING for c in live)
    per_call = used / calls / 1024
    return [
        Figure(
            "memory per live call (memory store, incl. its event log)",
            per_call,
            "KiB",
            goal="<= 5 KB",
            met=per_call * 1024 <= 5000,
        )
    ]


BARE_CLICK = """
import click

@click.group()
def cli():
    "A bare group."

@cli.command()
def hello():
    "One command."

cli()
"""


def _wall(argv: list[str], runs: int) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(argv, check=True, capture_output=True, env=env)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv,
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_cli(smoke: bool) -> list[Figure]:
    runs = 3 if smoke else 15
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE_CLICK)
        talkbox = [sys.executable, "-c", "from talkbox.cli import main; main()", "--help"]
        talkbox_time = _wall(talkbox, runs)
        bare_time = _wall([sys.executable, str(bare), "--help"], runs)
    ratio = talkbox_time / bare_time
    return [
        Figure(
            "talkbox --help wall time",
            talkbox_time * 1000,
            "ms",
            bare_time * 1000,
            "bare click group",
            "<= 1.3x",
            ratio <= 1.3,
        )
    ]
