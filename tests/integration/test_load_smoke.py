"""The load harness at a small size (CI): every request answered, every event delivered."""

from __future__ import annotations

import pytest
from benchmarks.load import run


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_small_load_loses_nothing(store: str) -> None:
    pytest.importorskip("gunicorn")
    if store == "redis":
        from tests.store.redis_fixture import redis_client

        redis_client()  # fails under CI, skips elsewhere, when no Redis answers
    summary = run(streams=20, rate=40, seconds=2, store=store, warmup=0.5)
    assert summary["errors"] == 0
    assert summary["calls"] >= 40
    assert summary["events_lost"] == 0
    assert summary["events_received"] == 6 * summary["calls"]
