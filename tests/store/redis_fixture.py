"""A RedisStore on the local Redis server, under a fresh key prefix removed afterwards.

Without a reachable server the Redis tests are skipped on a developer machine and *fail* in
CI (``CI`` set), so that CI can never go green by silently skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

REDIS_URL = os.environ.get("TALKBOX_TEST_REDIS", "redis://127.0.0.1:6379/15")


def redis_client():  # type: ignore[no-untyped-def]
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"no Redis server at {REDIS_URL}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return client


@contextmanager
def scratch_prefix() -> Iterator[str]:
    """A fresh key prefix for one test; every key under it is deleted afterwards."""
    client = redis_client()
    prefix = f"tbtest_{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}:*"))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
        client.close()


def redis_store(request: pytest.FixtureRequest) -> Iterator[object]:
    from talkbox.store.redis_store import RedisStore

    with scratch_prefix() as prefix:
        store = RedisStore(redis_client(), prefix=prefix)
        try:
            yield store
        finally:
            store.close()
