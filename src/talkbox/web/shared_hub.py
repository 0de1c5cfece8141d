"""Devices connected to any of several server processes that share a Redis store.

A browser holds its event stream on one process, but the call it answers may have been placed
through another, and the local provider there must ring it, relay its media offers and tell
it to hang up. This hub is the local provider's :class:`DeviceHub` over every process:

* **presence**: each process keeps an entry per connected device in one Redis hash
  (``identity / device -> process, expiry``), refreshed every ``heartbeat`` seconds. A process
  that dies stops refreshing, and its devices drop out after ``3 * heartbeat``, so the local
  provider's sweep can end their calls after its grace period unless they reconnect elsewhere.
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

SEP = "\x1f"  # between identity and device id in a presence field; neither may contain it

#: Deletes a presence field only if this process still owns it (the device may have
#: reconnected to another process in the meantime).
_RELEASE = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if value and string.sub(value, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. ' ' then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

#: Refreshes this process's presence fields (ARGV[3:]) to ARGV[2], but not one another process
#: has claimed meanwhile (the device reconnected there; this process is about to drop it).
_REFRESH = """
local mine = ARGV[1] .. ' '
for i = 3, #ARGV do
    local value = redis.call('HGET', KEYS[1], ARGV[i])
    if not value or string.sub(value, 1, string.len(mine)) == mine then
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[2])
    end
end
return 0
"""

#: Sets a presence field and returns what it held before.
_SWAP = """
local before = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return before
"""

#: Deletes a presence field only if it still holds the expired value that was read.
_EXPIRE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


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
        self._key = f"{self.prefix}:devices"
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
            for field in self._fields():
                self._release(keys=[self._key], args=[field, self.node])
            self.client.publish(self._presence, self.node)
        except redis.RedisError:
            pass  # the entries expire by themselves

    # -- DeviceHub ---------------------------------------------------------------------------
    def _entries(self) -> dict[tuple[str, str], str]:
        """Live presence entries: (identity, device) -> the process holding the device."""
        now = self._clock()
        out: dict[tuple[str, str], str] = {}
        for field, value in self.client.hgetall(self._key).items():
            identity, _, device = str(field).partition(SEP)
            node, _, expiry = str(value).partition(" ")
            try:
                if float(expiry) > now:
                    out[(identity, device)] = node
            except ValueError:
                continue
        return out

    def devices(self, identity: str) -> list[str]:
        """Raises ``RedisError`` when Redis does not answer: a device on another process must
        not count as gone (its calls would end) because presence could not be read."""
        found = set(self.local.devices(identity))
        found |= {d for (who, d) in self._entries() if who == identity}
        return sorted(found)

    def everyone(self) -> set[tuple[str, str]]:
        """Every connected (identity, device), in one read (the provider's sweep)."""
        found = {(who, d) for who in self.local.local_online() for d in self.local.devices(who)}
        return found | set(self._entries())

    def send(self, identity: str, message: Mapping[str, Any], device_id: str | None = None) -> int:
        reached = self.local.send(identity, message, device_id)
        if device_id is not None and reached:
            return reached
        local = set(self.local.devices(identity))
        try:
            nodes: dict[str, list[str]] = {}
            for (who, device), node in self._entries().items():
                mine = who == identity and node != self.node and device not in local
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
            node = self._entries().get((identity, device_id))
            if node is None or node == self.node:
                return False
            body = json.dumps({"identity": identity, "device": device_id, "away": token})
            return bool(self.client.publish(self._channel(node), body))
        except redis.RedisError as exc:
            log.warning("could not pass on that %s/%s left (%s)", identity, device_id, exc)
            return False

    def online(self) -> list[str]:
        """Everyone with a device connected to any process."""
        try:
            return sorted({who for (who, _) in self._entries()} | set(self.local.local_online()))
        except redis.RedisError:
            return self.local.local_online()

    # -- PresenceListener (the local stream hub tells us first) -------------------------------
    def device_online(self, identity: str, device_id: str) -> None:
        try:
            # Online before this device? (Its own stream is already in the local hub.)
            others = {d for (who, d) in self._entries() if who == identity}
            before = bool((others | set(self.local.devices(identity))) - {device_id})
            self._claim(identity, device_id)
            if not before:
                self.client.publish(self._presence, self.node)
        except redis.RedisError as exc:
            log.warning("could not announce %s/%s (%s); next heartbeat", identity, device_id, exc)

    def device_offline(self, identity: str, device_id: str) -> None:
        try:
            self._release(keys=[self._key], args=[self._field(identity, device_id), self.node])
            if identity not in self.online():
                self.client.publish(self._presence, self.node)
        except redis.RedisError as exc:
            log.warning("could not withdraw %s/%s (%s); it expires", identity, device_id, exc)

    def _field(self, identity: str, device_id: str) -> str:
        return f"{identity}{SEP}{device_id}"

    def _claim(self, identity: str, device_id: str) -> None:
        """Announce the device here; if another live process held it (the page reconnected
        through another process), that process drops its stale stream at once."""
        now = self._clock()
        field = self._field(identity, device_id)
        before = self._swap(keys=[self._key], args=[field, f"{self.node} {now + self.ttl}"])
        node, _, expiry = str(before or "").partition(" ")
        try:
            live = float(expiry) > now
        except ValueError:
            live = False
        if live and node != self.node:
            body = json.dumps({"identity": identity, "device": device_id, "moved": True})
            self.client.publish(self._channel(node), body)

    def _fields(self) -> list[str]:
        local = self.local
        return [self._field(who, d) for who in local.local_online() for d in local.devices(who)]

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
                token = data.get("away")
                work = (
                    (lambda: self.local.drop(identity, str(device)))
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
                fields = self._fields()
                if fields:
                    value = f"{self.node} {now + self.ttl}"
                    self._refresh(keys=[self._key], args=[self.node, value, *fields])
                self._expire(now)
                self._presence_changed()  # a process that died took its users with it
            except redis.RedisError as exc:
                log.warning("presence heartbeat failed (%s)", exc)

    def _expire(self, now: float) -> None:
        """Drop entries nobody refreshed (their process died); any process may."""
        for field, value in self.client.hgetall(self._key).items():
            try:
                expired = float(str(value).partition(" ")[2]) <= now
            except ValueError:
                expired = True
            if expired:
                self._expire_script(keys=[self._key], args=[field, value])
