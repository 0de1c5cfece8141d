"""Devices connected to any of several server processes that share a Redis store.

A browser holds its event stream on one process, but the call it answers may have been placed
through another, and the local provider there must ring it, relay its media offers and tell
it to hang up. This hub is the local provider's :class:`DeviceHub` over every process:

* **presence**: each process keeps an entry per connected device in a Redis hash per user
  (``device -> process, expiry``) and marks the user online in one more hash, refreshed every
  ``heartbeat`` seconds. A process that dies stops refreshing, and its devices drop out after
  ``3 * heartbeat``, so the local provider's sweep can end their calls after its grace period
  unless they reconnect elsewhere.
* **delivery**: a message for a device on another process is published on that process's own
  channel; ``PUBLISH`` answers how many processes listen there, so a message for a device whose
  process died counts as undelivered.
* **who is online**: pages show every process's users; a process tells the others when a user
  comes or goes, and each notices an expired process on its next heartbeat.

Signals are not logged: a message published while its receiver is reconnecting to Redis is
lost, as one written to a dropped stream is. The provider re-sends what still matters when a
device reconnects (``resume``, ``invite``).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from talkbox.store.redis_store import RedisStore, listen
from talkbox.web.stream import StreamHub

log = logging.getLogger("talkbox.web.shared_hub")

#: Deletes a device's entry only if this process still owns it (the device may have
#: reconnected to another process meanwhile); a user with no device left is no longer online.
#: KEYS: the user's device hash, the online hash. ARGV: device, node, user.
_RELEASE = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. ' ' then
    redis.call('HDEL', KEYS[1], ARGV[1])
    if redis.call('HLEN', KEYS[1]) == 0 then redis.call('HDEL', KEYS[2], ARGV[3]) end
    return 1
end
return 0
"""

#: Refreshes a user's devices held here (ARGV[5:]) to ARGV[2], but not one another process
#: claimed meanwhile (the device reconnected there; this process is about to drop it).
#: KEYS: the user's device hash, the online hash. ARGV: node, value, user, expiry, devices...
_REFRESH = """
local mine = ARGV[1] .. ' '
for i = 5, #ARGV do
    local value = redis.call('HGET', KEYS[1], ARGV[i])
    if not value or string.sub(value, 1, string.len(mine)) == mine then
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[2])
    end
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 0
"""

#: Claims a device for this process; returns what its entry held before.
#: KEYS: the user's device hash, the online hash. ARGV: device, value, user, expiry.
_SWAP = """
local before = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return before
"""

#: Drops a user's expired device entries, and the user from the online hash when none is left
#: (and nobody refreshed it meanwhile). KEYS: device hash, online hash. ARGV: user, now.
_EXPIRE = """
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
    local expiry = tonumber(string.match(entries[i + 1], ' (.*)$'))
    if not expiry or expiry <= tonumber(ARGV[2]) then redis.call('HDEL', KEYS[1], entries[i]) end
end
if redis.call('HLEN', KEYS[1]) == 0 then
    local until_ = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
    if until_ <= tonumber(ARGV[2]) then redis.call('HDEL', KEYS[2], ARGV[1]) end
end
return 0
"""


def _live(entries: Mapping[Any, Any], now: float) -> dict[str, str]:
    """A user's device entries that have not expired: device -> the process holding it."""
    out: dict[str, str] = {}
    for device, value in entries.items():
        node, _, expiry = str(value).partition(" ")
        try:
            if float(expiry) > now:
                out[str(device)] = node
        except ValueError:
            continue
    return out


class SharedDeviceHub:
    def __init__(
        self,
        local: StreamHub,
        store: RedisStore,
        *,
        heartbeat: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.local = local
        self.client = store.client
        self.prefix = store.prefix
        self.heartbeat = heartbeat
        self.ttl = 3 * heartbeat
        self.node = secrets.token_hex(6)
        self._clock = clock
        #: user -> until when someone refreshed one of their devices (who is online).
        self._online_key = f"{self.prefix}:online"
        self._presence = f"{self.prefix}:presence"
        self._release = self.client.register_script(_RELEASE)
        self._expire_script = self.client.register_script(_EXPIRE)
        self._swap = self.client.register_script(_SWAP)
        self._refresh = self.client.register_script(_REFRESH)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._online: list[str] = []
        self._subscribed = threading.Event()

    def _channel(self, node: str) -> str:
        return f"{self.prefix}:signal:{node}"

    def _devices_key(self, identity: str) -> str:
        """One hash per user (device -> process, expiry): finding a user's devices reads only
        theirs (one hash for everybody cost a third of a busy server's time)."""
        return f"{self.prefix}:dev:{identity}"

    def _keys(self, identity: str) -> list[str]:
        return [self._devices_key(identity), self._online_key]

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SharedDeviceHub:
        for target, name in ((self._listen, "listen"), (self._beat, "heartbeat")):
            thread = threading.Thread(target=target, name=f"talkbox-devices-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._subscribed.wait(timeout=10)
        return self

    def stop(self) -> None:
        """Stop, and withdraw this process's devices at once (a graceful shutdown)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        try:
            for identity, device in self._held():
                self._release(keys=self._keys(identity), args=[device, self.node, identity])
            self.client.publish(self._presence, self.node)
        except redis.RedisError:
            pass  # the entries expire by themselves

    # -- DeviceHub ---------------------------------------------------------------------------
    def _entries(self, identity: str) -> dict[str, str]:
        """``identity``'s devices on any process: device -> the process holding it."""
        return _live(self.client.hgetall(self._devices_key(identity)), self._clock())

    def devices(self, identity: str) -> list[str]:
        """Raises ``RedisError`` when Redis does not answer: a device on another process must
        not count as gone (its calls would end) because presence could not be read."""
        return sorted(set(self.local.devices(identity)) | set(self._entries(identity)))

    def everyone(self) -> set[tuple[str, str]]:
        """Every connected (identity, device), in two reads (the provider's sweep)."""
        found = set(self._held())
        users = self._online_users()
        pipe = self.client.pipeline(transaction=False)
        for identity in users:
            pipe.hgetall(self._devices_key(identity))
        now = self._clock()
        for identity, entries in zip(users, pipe.execute(), strict=True):
            found |= {(identity, device) for device in _live(entries, now)}
        return found

    def send(self, identity: str, message: Mapping[str, Any], device_id: str | None = None) -> int:
        reached = self.local.send(identity, message, device_id)
        if device_id is not None and reached:
            return reached
        local = set(self.local.devices(identity))
        try:
            nodes: dict[str, list[str]] = {}
            for device, node in self._entries(identity).items():
                mine = node != self.node and device not in local
                if mine and device_id in (None, device):
                    nodes.setdefault(node, []).append(device)
            for node, devices in nodes.items():
                body = json.dumps({"identity": identity, "device": device_id, "message": message})
                if self.client.publish(self._channel(node), body):
                    reached += len(devices)
        except redis.RedisError as exc:
            log.warning("could not reach %s's other devices (%s)", identity, exc)
        return reached

    def away(self, identity: str, device_id: str, token: str) -> bool:
        """A page leaving (``POST /devices/<id>/away``) may reach another process than the one
        holding its stream: pass the notice on to that process."""
        if self.local.away(identity, device_id, token):
            return True
        try:
            node = self._entries(identity).get(device_id)
            if node is None or node == self.node:
                return False
            body = json.dumps({"identity": identity, "device": device_id, "away": token})
            return bool(self.client.publish(self._channel(node), body))
        except redis.RedisError as exc:
            log.warning("could not pass on that %s/%s left (%s)", identity, device_id, exc)
            return False

    def _online_users(self) -> list[str]:
        now = self._clock()
        users = []
        for identity, until in self.client.hgetall(self._online_key).items():
            try:
                if float(until) > now:
                    users.append(str(identity))
            except ValueError:
                continue
        return users

    def online(self) -> list[str]:
        """Everyone with a device connected to any process."""
        try:
            return sorted(set(self._online_users()) | set(self.local.local_online()))
        except redis.RedisError:
            return self.local.local_online()

    # -- PresenceListener (the local stream hub tells us first) -------------------------------
    def device_online(self, identity: str, device_id: str) -> None:
        try:
            # Online before this device? (Its own stream is already in the local hub.)
            others = set(self._entries(identity)) | set(self.local.devices(identity))
            before = bool(others - {device_id})
            self._claim(identity, device_id)
            if not before:
                self.client.publish(self._presence, self.node)
        except redis.RedisError as exc:
            log.warning("could not announce %s/%s (%s); next heartbeat", identity, device_id, exc)

    def device_offline(self, identity: str, device_id: str) -> None:
        try:
            self._release(keys=self._keys(identity), args=[device_id, self.node, identity])
            if identity not in self.online():
                self.client.publish(self._presence, self.node)
        except redis.RedisError as exc:
            log.warning("could not withdraw %s/%s (%s); it expires", identity, device_id, exc)

    def _claim(self, identity: str, device_id: str) -> None:
        """Announce the device here; if another live process held it (the page reconnected
        through another process), that process drops its stale stream at once."""
        now = self._clock()
        until = now + self.ttl
        before = self._swap(
            keys=self._keys(identity), args=[device_id, f"{self.node} {until}", identity, until]
        )
        node, _, expiry = str(before or "").partition(" ")
        try:
            live = float(expiry) > now
        except ValueError:
            live = False
        if live and node != self.node:
            body = json.dumps({"identity": identity, "device": device_id, "moved": True, "at": now})
            self.client.publish(self._channel(node), body)

    def _held(self) -> list[tuple[str, str]]:
        """The (identity, device) pairs whose streams this process holds."""
        local = self.local
        return [(who, d) for who in local.local_online() for d in local.devices(who)]

    # -- threads -----------------------------------------------------------------------------
    def _listen(self) -> None:
        listen(
            self.client,
            [self._channel(self.node), self._presence],
            self._receive,
            self._stop,
            subscribed=self._subscribed.set,
            poll=0.5,
            name="device hub",
        )

    def _receive(self, channel: str, data: str) -> None:
        try:
            if channel == self._presence:
                self._presence_changed()
            else:
                self._deliver(data)
        except Exception:  # one bad message must not end the subscription
            log.exception("handling a device message failed: %.200s", data)

    def _deliver(self, body: str) -> None:
        try:
            data = json.loads(body)
            identity, device = str(data["identity"]), data.get("device")
            if data.get("moved") or "away" in data:
                # Closing a stream runs the provider (its lock may be held elsewhere for a
                # while): not on this thread, which carries every other device's messages.
                token, at = data.get("away"), data.get("at")
                before = float(at) if isinstance(at, (int, float)) else None
                work = (
                    (lambda: self.local.drop(identity, str(device), before))
                    if data.get("moved")
                    else (lambda: self.local.away(identity, str(device), str(token)))
                )
                threading.Thread(target=work, name="talkbox-device-gone", daemon=True).start()
                return
            self.local.send(identity, data["message"], device)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed device message: %.200s", body)

    def _presence_changed(self) -> None:
        online = self.online()
        if online != self._online:
            self._online = online
            self.local.broadcast_presence()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                now = self._clock()
                until = now + self.ttl
                mine: dict[str, list[str]] = {}
                for identity, device in self._held():
                    mine.setdefault(identity, []).append(device)
                pipe = self.client.pipeline(transaction=False)
                for identity, devices in mine.items():
                    self._refresh(
                        keys=self._keys(identity),
                        args=[self.node, f"{self.node} {until}", identity, until, *devices],
                        client=pipe,
                    )
                pipe.execute()
                self._expire(now)
                self._presence_changed()  # a process that died took its users with it
            except redis.RedisError as exc:
                log.warning("presence heartbeat failed (%s)", exc)

    def _expire(self, now: float) -> None:
        """Drop entries nobody refreshed (their process died); any process may."""
        stale = []
        for identity, until in self.client.hgetall(self._online_key).items():
            try:
                if float(until) <= now:
                    stale.append(str(identity))
            except ValueError:
                stale.append(str(identity))
        for identity in stale:
            self._expire_script(keys=self._keys(identity), args=[identity, now])
