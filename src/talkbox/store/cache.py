"""A small thread-safe LRU map, for the store lookups that never change once written (a leg's
id always names the same room) and for room copies an optimistic store may start from."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self.size:
                self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)


def find_cached(
    cache: LRU[str, str], keys: Iterable[str], fetch: Callable[[str], str | None]
) -> str | None:
    """The room the first known lookup key names: from ``cache``, else ``fetch`` (remembered;
    a lookup never changes once written, and a miss is not cached)."""
    for key in keys:
        known = cache.get(key)
        if known is not None:
            return known
        found = fetch(key)
        if found is not None:
            cache.put(key, found)
            return found
    return None
