"""A Redis store: several server processes share rooms, lookups and one event log.

Every change is committed by one Lua script, which makes it atomic and gives the log its order:

* a room is a hash (``data`` JSON, ``version``); :meth:`RedisStore.update` reads it, runs the
  rules, and the script writes the new room only if ``version`` is still the one read
  (optimistic concurrency: a concurrent writer makes us re-read and re-run, never lose an
  update);
* event ids come from ``INCR`` inside the same script, so ids increase in commit order across
  processes and a reader resuming "after id N" never misses an event committed later with a
  lower id;
* each logged event is also ``PUBLISH``-ed on ``<prefix>:events`` for the event bridge.

A room that has ended expires after ``ended_ttl`` seconds (default a day) with its lookups; the
event log, and so the call history, is kept. Single Redis instance (or a primary with
Sentinel): the script touches keys it derives from the prefix, which Redis Cluster would refuse.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis

from talkbox import events as ev
from talkbox.errors import Conflict, NotFound
from talkbox.model import Conference, ConferenceStatus
from talkbox.store.base import (
    ApiToken,
    Change,
    LockedState,
    LoggedEvent,
    Store,
    User,
    is_history,
    parties_of,
)
from talkbox.store.cache import LRU, find_cached
from talkbox.store.codec import dumps, loads, lookup_key, lookup_keys

log = logging.getLogger("talkbox.store.redis")

_COMMIT = """
local p, id, expected = ARGV[1], ARGV[2], ARGV[3]
local key = p .. ':conf:' .. id
local current = redis.call('HGET', key, 'version')
if expected == '' then
  if current then return {-1} end
  current = '0'
elseif current ~= expected then
  return {-2}
end
local version = tonumber(current) + 1
redis.call('HSET', key, 'data', ARGV[4], 'version', version)
local ended = ARGV[6] == '1'
local ttl = tonumber(ARGV[7])
if ended then
  redis.call('ZREM', p .. ':live', id)
  redis.call('EXPIRE', key, ttl)
else
  redis.call('ZADD', p .. ':live', ARGV[5], id)
end
local i = 9
local n_lookups = tonumber(ARGV[i]); i = i + 1
for _ = 1, n_lookups do
  local lookup = p .. ':lookup:' .. ARGV[i]
  redis.call('SET', lookup, id)
  if ended then redis.call('EXPIRE', lookup, ttl) end
  i = i + 1
end
local parties_json = ARGV[i]; i = i + 1
local parties = cjson.decode(parties_json)
local n_events = tonumber(ARGV[i]); i = i + 1
local result = {version}
for _ = 1, n_events do
  local n = redis.call('INCR', p .. ':seq')
  local history = ARGV[i + 1] == '1'
  local entry = '{"id":' .. n .. ',"origin":"' .. ARGV[8] .. '","parties":' .. parties_json
    .. ',"event":' .. ARGV[i] .. '}'
  i = i + 2
  redis.call('ZADD', p .. ':log', n, entry)
  for _, party in ipairs(parties) do
    redis.call('ZADD', p .. ':party:' .. party, n, n)
    if history then redis.call('ZADD', p .. ':history:' .. party, n, n) end
  end
  if history then redis.call('ZADD', p .. ':history', n, n) end
  redis.call('PUBLISH', p .. ':events', entry)
  result[#result + 1] = n
end
return result
"""

DEFAULT_ENDED_TTL = 24 * 3600
DEFAULT_MAX_CONNECTIONS = 64


def _strs(values: Any) -> list[str]:
    """redis-py's return types are loose; with ``decode_responses=True`` these are strings."""
    return [str(value) for value in values]


def _hash(values: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(values).items()}


def parse_entry(text: str) -> LoggedEvent:
    """A log entry (as stored and as published on the events channel) back to a LoggedEvent."""
    return parse_message(text)[1]


def parse_message(text: str) -> tuple[str, LoggedEvent]:
    """A log entry and the origin (store instance) that committed it."""
    data = json.loads(text)
    entry = LoggedEvent(int(data["id"]), ev.from_dict(data["event"]), frozenset(data["parties"]))
    return str(data["origin"]), entry


#: Takes a provider-state lock and reads the entries, or only their version when it is the
#: one the caller knows. KEYS: entries, lock, version. ARGV: token, ttl ms, known version.
_STATE_ACQUIRE = """
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local version = redis.call('GET', KEYS[3]) or '0'
if version == ARGV[3] then return {version, 0} end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 1)
table.insert(out, 1, version)
return out
"""

#: Writes the changes (ARGV[2] pairs to set, then fields to delete) and releases the lock,
#: only if the lock is still held with ARGV[1]; returns the new version, or -1 if it was lost.
_STATE_RELEASE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local pairs_ = tonumber(ARGV[2])
local version = tonumber(redis.call('GET', KEYS[3]) or '0')
if #ARGV > 2 then
    for i = 3, 2 + 2 * pairs_, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
    for i = 3 + 2 * pairs_, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
    version = redis.call('INCR', KEYS[3])
end
redis.call('DEL', KEYS[2])
return version
"""


class RedisStore(Store):
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "talkbox",
        ended_ttl: int = DEFAULT_ENDED_TTL,
        max_retries: int = 200,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ended_ttl = ended_ttl
        self.max_retries = max_retries
        #: Tags this instance's commits so that its own event bridge does not deliver them a
        #: second time (the local switchboard already did).
        self.origin = secrets.token_hex(8)
        self._commit = client.register_script(_COMMIT)
        self._state_acquire = client.register_script(_STATE_ACQUIRE)
        self._state_release = client.register_script(_STATE_RELEASE)
        # Lookups never change once written (a leg's id always names the same room), and the
        # room this process wrote last is usually the one it updates next: both are cached so
        # that an update is one round trip. A stale room copy only makes the commit script
        # refuse (the version moved on) and the update re-read; correctness never rests on it.
        self._lookups: LRU[str, str] = LRU(100_000)
        self._rooms: LRU[str, tuple[str, Conference]] = LRU(10_000)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """``redis://host:port/db?prefix=talkbox&ended_ttl=86400&max_connections=64``.

        The connection pool *blocks* when all ``max_connections`` are in use: hundreds of
        event-stream threads opening at once then wait a moment for a connection instead of
        failing (redis-py's default pool raises ``MaxConnectionsError``, which a load test
        showed as HTTP 500s on stream opens).
        """
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        prefix = query.pop("prefix", ["talkbox"])[0]
        ttl = int(query.pop("ended_ttl", [str(DEFAULT_ENDED_TTL)])[0])
        size = int(query.pop("max_connections", [str(DEFAULT_MAX_CONNECTIONS)])[0])
        rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        pool = redis.BlockingConnectionPool.from_url(
            clean,
            max_connections=size,
            timeout=10,
            decode_responses=True,
            health_check_interval=30,
        )
        return cls(redis.Redis(connection_pool=pool), prefix=prefix, ended_ttl=ttl)

    @property
    def channel(self) -> str:
        """The pub/sub channel every committed event is published on."""
        return f"{self.prefix}:events"

    def _key(self, conference_id: str) -> str:
        return f"{self.prefix}:conf:{conference_id}"

    def _write(
        self,
        conf: Conference,
        events: Sequence[ev.Event],
        expected: str,
        previous: Conference | None = None,
    ) -> tuple[int, list[LoggedEvent]] | None:
        parties = parties_of(conf)
        keys = lookup_keys(conf)
        if previous is not None and conf.status is not ConferenceStatus.ENDED:
            # Lookups never change once written: send only the new ones (all of them when the
            # room ends, so that they expire with it).
            known = set(lookup_keys(previous))
            keys = [key for key in keys if key not in known]
        args: list[Any] = [
            self.prefix,
            conf.id,
            expected,
            dumps(conf),
            conf.created_at,
            "1" if conf.status is ConferenceStatus.ENDED else "0",
            self.ended_ttl,
            self.origin,
            len(keys),
            *keys,
            json.dumps(sorted(parties)),
            len(events),
        ]
        for event in events:
            args += [json.dumps(ev.to_dict(event)), "1" if is_history(event) else "0"]
        result = self._commit(args=args)
        if result[0] == -1:
            raise Conflict(f"conference {conf.id!r} already exists")
        if result[0] == -2:
            return None
        for key in keys:  # this process wrote them: a report naming the leg needs no GET
            self._lookups.put(key, conf.id)
        return int(result[0]), [
            LoggedEvent(int(n), event, parties) for n, event in zip(result[1:], events, strict=True)
        ]

    def _remember(self, conf: Conference, version: int) -> None:
        if conf.status is ConferenceStatus.ENDED:
            self._rooms.pop(conf.id)
        else:
            self._rooms.put(conf.id, (str(version), conf))

    def add(self, conference: Conference, events: Sequence[ev.Event] = ()) -> list[LoggedEvent]:
        written = self._write(conference, events, "")
        assert written is not None
        self._remember(conference, written[0])
        return written[1]

    def update(
        self, conference_id: str, change: Callable[[Conference], Change]
    ) -> tuple[Conference, list[LoggedEvent]]:
        cached = self._rooms.get(conference_id)
        for _ in range(self.max_retries):
            fresh = cached is None
            if cached is None:
                data, version = self.client.hmget(self._key(conference_id), ["data", "version"])
                if data is None:
                    raise NotFound("conference", conference_id)
                cached = (str(version), loads(data))
            version, current = cached
            result = change(current)
            if result is None:
                if not fresh:  # "nothing to do" must be decided on the stored room itself
                    cached = None
                    continue
                return current, []
            new, events = result
            written = self._write(new, events, version, previous=current)
            if written is not None:
                self._remember(new, written[0])
                return new, written[1]
            cached = None  # someone else wrote it: read again and re-run the change
            self._rooms.pop(conference_id)
        raise Conflict(f"conference {conference_id} is too busy: gave up after many retries")

    def get(self, conference_id: str) -> Conference:
        data = self.client.hget(self._key(conference_id), "data")
        if data is None:
            raise NotFound("conference", conference_id)
        return loads(data)

    def find(
        self,
        *,
        call_id: str | None = None,
        provider_call_id: str | None = None,
        provider_conference_id: str | None = None,
    ) -> str | None:
        def fetch(key: str) -> str | None:
            found = self.client.get(f"{self.prefix}:lookup:{key}")
            return str(found) if found is not None else None

        keys = lookup_key(call_id, provider_call_id, provider_conference_id)
        return find_cached(self._lookups, keys, fetch)

    def live(self) -> list[Conference]:
        ids = _strs(self.client.zrange(f"{self.prefix}:live", 0, -1))
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for conference_id in ids:
            pipe.hget(self._key(conference_id), "data")
        rooms = [loads(data) for data in pipe.execute() if data is not None]
        return sorted(rooms, key=lambda c: (c.created_at, c.id))

    def _entries(self, ids: Sequence[str | int]) -> list[LoggedEvent]:
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for n in ids:
            pipe.zrangebyscore(f"{self.prefix}:log", n, n)
        return [parse_entry(found[0]) for found in pipe.execute() if found]

    def raw_events(self, after: int, limit: int = 1000) -> list[tuple[str, LoggedEvent]]:
        """Log entries after ``after`` with their origins (for the bridge to catch up)."""
        entries = self.client.zrangebyscore(f"{self.prefix}:log", f"({after}", "+inf", 0, limit)
        return [parse_message(e) for e in _strs(entries)]

    def last_event_id(self) -> int:
        return int(self.client.get(f"{self.prefix}:seq") or 0)

    def events(
        self, after: int = 0, *, limit: int = 1000, party: str | None = None
    ) -> list[LoggedEvent]:
        low = f"({after}"
        if party is None:
            entries = self.client.zrangebyscore(
                f"{self.prefix}:log", low, "+inf", start=0, num=limit
            )
            return [parse_entry(e) for e in _strs(entries)]
        ids = self.client.zrangebyscore(
            f"{self.prefix}:party:{party}", low, "+inf", start=0, num=limit
        )
        return self._entries(_strs(ids))

    def history(
        self, *, party: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[LoggedEvent]:
        key = f"{self.prefix}:history" + (f":{party}" if party is not None else "")
        high = f"({before}" if before is not None else "+inf"
        ids = self.client.zrevrangebyscore(key, high, "-inf", start=0, num=limit)
        return self._entries(_strs(ids))

    # -- users and API tokens ----------------------------------------------------------------
    # ``<p>:user:<name>`` hash; ``<p>:users`` set of names; ``<p>:token:<id>`` hash;
    # ``<p>:token-digest:<digest>`` -> id; ``<p>:tokens:<user>`` set of ids.
    def save_user(self, user: User) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            f"{self.prefix}:user:{user.name}",
            mapping={"password_hash": user.password_hash, "created_at": user.created_at},
        )
        pipe.sadd(f"{self.prefix}:users", user.name)
        pipe.execute()

    def get_user(self, name: str) -> User | None:
        data = _hash(self.client.hgetall(f"{self.prefix}:user:{name}"))
        if not data:
            return None
        return User(name, data["password_hash"], float(data["created_at"]))

    def users(self) -> list[User]:
        names = sorted(_strs(self.client.smembers(f"{self.prefix}:users")))
        found = [self.get_user(name) for name in names]
        return [user for user in found if user is not None]

    def delete_user(self, name: str) -> bool:
        for token in self.tokens(name):
            self.delete_token(name, token.id)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(f"{self.prefix}:user:{name}")
        pipe.srem(f"{self.prefix}:users", name)
        deleted, _ = pipe.execute()
        return bool(deleted)

    def save_token(self, token: ApiToken) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            f"{self.prefix}:token:{token.id}",
            mapping={
                "user": token.user,
                "digest": token.digest,
                "label": token.label,
                "created_at": token.created_at,
            },
        )
        pipe.set(f"{self.prefix}:token-digest:{token.digest}", token.id)
        pipe.sadd(f"{self.prefix}:tokens:{token.user}", token.id)
        pipe.execute()

    def _token(self, token_id: str) -> ApiToken | None:
        data = _hash(self.client.hgetall(f"{self.prefix}:token:{token_id}"))
        if not data:
            return None
        return ApiToken(
            token_id, data["user"], data["digest"], data["label"], float(data["created_at"])
        )

    def token_by_digest(self, digest: str) -> ApiToken | None:
        token_id = self.client.get(f"{self.prefix}:token-digest:{digest}")
        return self._token(str(token_id)) if token_id is not None else None

    def tokens(self, user: str) -> list[ApiToken]:
        ids = _strs(self.client.smembers(f"{self.prefix}:tokens:{user}"))
        found = [t for t in (self._token(i) for i in ids) if t is not None]
        return sorted(found, key=lambda t: t.created_at)

    def delete_token(self, user: str, token_id: str) -> bool:
        token = self._token(token_id)
        if token is None or token.user != user:
            return False
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(f"{self.prefix}:token:{token_id}")
        pipe.delete(f"{self.prefix}:token-digest:{token.digest}")
        pipe.srem(f"{self.prefix}:tokens:{user}", token_id)
        pipe.execute()
        return True

    # -- provider state (shared by every process) ----------------------------------------------
    shared = True

    def provider_state(self, provider: str) -> dict[str, str]:
        return _hash(self.client.hgetall(f"{self.prefix}:pstate:{provider}"))

    def put_provider_state(self, provider: str, changes: Mapping[str, str | None]) -> None:
        key = f"{self.prefix}:pstate:{provider}"
        pipe = self.client.pipeline(transaction=True)
        for field, value in changes.items():
            if value is None:
                pipe.hdel(key, field)
            else:
                pipe.hset(key, field, value)
        pipe.incr(f"{self.prefix}:pstate-version:{provider}")  # readers' copies are stale
        pipe.execute()

    @contextlib.contextmanager
    def provider_state_locked(
        self, provider: str, known: str | None, timeout: float = 10.0
    ) -> Iterator[LockedState]:
        """One round trip takes the lock and reads the entries (only their version when it is
        ``known``), one writes the changes and releases it: a local-provider change on a shared
        store was four round trips and a full read."""
        keys = [
            f"{self.prefix}:pstate:{provider}",
            f"{self.prefix}:lock:pstate:{provider}",
            f"{self.prefix}:pstate-version:{provider}",
        ]
        token = secrets.token_hex(8)
        deadline = time.monotonic() + timeout
        while True:
            got = self._state_acquire(keys=keys, args=[token, int(timeout * 1000), known or ""])
            if got:
                break
            if time.monotonic() > deadline:
                raise redis.exceptions.LockError(f"could not lock {provider}'s state")
            time.sleep(0.002)
        version, fresh, flat = str(got[0]), int(got[1]), got[2:]
        entries = _hash(dict(zip(flat[::2], flat[1::2], strict=True))) if fresh else None
        state = LockedState(version, entries)
        try:
            yield state
        finally:
            sets = [x for k, v in state.changes.items() if v is not None for x in (k, v)]
            gone = [k for k, v in state.changes.items() if v is None]
            written = self._state_release(keys=keys, args=[token, len(sets) // 2, *sets, *gone])
            if written == -1:
                raise redis.exceptions.LockNotOwnedError(
                    f"{provider}'s state lock expired before its change was written"
                )
            state.version = str(written) if sets or gone else version

    def lock(self, name: str, timeout: float = 10.0) -> AbstractContextManager[object]:
        """redis-py's lock (a token under ``SET NX PX``, released by a script that checks the
        token): a process killed while holding it blocks the others for ``timeout`` at most."""
        lock: AbstractContextManager[object] = self.client.lock(
            f"{self.prefix}:lock:{name}", timeout=timeout, blocking_timeout=timeout, sleep=0.005
        )
        return lock

    def close(self) -> None:
        self.client.close()


def listen(
    client: redis.Redis,
    channels: Sequence[str],
    handle: Callable[[str, str], None],
    stop: threading.Event,
    *,
    subscribed: Callable[[], None],
    poll: float,
    name: str,
) -> None:
    """Call ``handle(channel, data)`` for every message on ``channels`` until ``stop`` is set,
    resubscribing with backoff whenever Redis goes away. ``subscribed`` runs after every
    (re)subscription: pub/sub forgets what was published meanwhile, so a listener catches up
    there (the event bridge reads the log; the device hub has nothing to catch up)."""
    backoff = 0.1
    while not stop.is_set():
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(*channels)
            subscribed()
            backoff = 0.1
            while not stop.is_set():
                message = pubsub.get_message(timeout=poll)
                if message is not None and message["type"] == "message":
                    handle(str(message["channel"]), str(message["data"]))
        except redis.RedisError as exc:
            log.warning("%s lost Redis (%s); reconnecting in %.1fs", name, exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)
        finally:
            pubsub.close()
