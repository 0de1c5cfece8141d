"""Stores: the :class:`Store` port and its adapters, chosen by a URL.

* ``memory`` - in-process, for tests;
* ``redis://host:6379/0?prefix=talkbox`` - shared by several server processes (``redis``
  extra);
* ``sqlite:////abs/path.db``, ``sqlite:///relative.db`` (as SQLAlchemy) or ``sqlite:file.db``:
  the embedded default.
"""

from __future__ import annotations

import os
from pathlib import Path

from talkbox.errors import ConfigError
from talkbox.store.base import ApiToken, Change, LoggedEvent, Store, User
from talkbox.store.memory import MemoryStore
from talkbox.store.sqlite import SQLiteStore


def default_sqlite_path() -> Path:
    """``$XDG_DATA_HOME/talkbox/talkbox.db`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "talkbox" / "talkbox.db"


def open_store(url: str) -> Store:
    """Open the store a ``TALKBOX_STORE`` URL names."""
    if url == "memory":
        return MemoryStore()
    if url.startswith("sqlite:"):
        path = url[len("sqlite:") :]
        if path.startswith("///"):
            path = path[3:]  # as SQLAlchemy: sqlite:///rel.db, sqlite:////abs/path.db
        elif path.startswith("//"):
            raise ConfigError(
                f"bad sqlite URL {url!r}: use sqlite:///relative.db or sqlite:////absolute/path.db"
            )
        if not path:
            raise ConfigError(f"bad sqlite URL {url!r}: no file path")
        return SQLiteStore(path)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            from talkbox.store.redis_store import RedisStore
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigError(
                "the redis store needs the redis extra: pip install 'talkbox[redis]'"
            ) from None
        return RedisStore.from_url(url)
    raise ConfigError(
        f"unknown store {url!r}: use 'memory', 'sqlite:////abs/path/talkbox.db' "
        "or 'redis://host:6379/0'"
    )


__all__ = [
    "ApiToken",
    "Change",
    "LoggedEvent",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "User",
    "default_sqlite_path",
    "open_store",
]
