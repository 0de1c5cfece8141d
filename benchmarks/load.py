"""Load harness: N open event streams and a steady rate of requests against a talkbox server
under gunicorn, on loopback only, bounded in count and time.

    python -m benchmarks.load --streams 500 --rate 200 --seconds 60 \
        [--store sqlite|redis] [--provider twilio|local]

Each "call" is two requests:

* ``twilio``: what Twilio sends for a browser that dials a number and hangs up before the
  callee is dialled: the signed voice webhook (the room opens), then the caller leg's signed
  ``completed`` status webhook (the room ends). No request leaves the machine: the room ends
  before any leg would be placed at Twilio.
* ``local``: API commands of the embedded provider: a user's device dials another user
  (``POST /api/calls``; the callee's device is sent an invite), then hangs up while it rings
  (``POST /api/calls/<id>/hangup``). Both users hold a device stream.

Every stream is one user's device. The harness reports request errors, events lost (logged in
the store for a user's room but never received by that user's stream; read back from the store
after the run), invites lost (local), and the latency from sending the second request to the
caller's stream receiving ``conference-ended`` (apply, store, publish, stream delivery).
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from benchmarks.gunicorn import Gunicorn

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "https://load.example.com"
AUTH_TOKEN = "load-test-auth-token"
ACCOUNT = "AC" + "1" * 32


@dataclass
class Result:
    streams: int
    calls_sent: int
    seconds: float
    errors: int = 0
    events_expected: int = 0
    events_received: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    invites_expected: int = 0
    invites_received: int = 0
    #: room id -> (caller's user name, when the request ending it was sent)
    sent_at: dict[str, tuple[str, float]] = field(default_factory=dict)
    warm: set[str] = field(default_factory=set)

    @property
    def lost(self) -> int:
        return self.events_expected - self.events_received

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "streams": self.streams,
            "calls": self.calls_sent,
            "requests_per_second": round(2 * self.calls_sent / self.seconds, 1),
            "errors": self.errors,
            "events_expected": self.events_expected,
            "events_received": self.events_received,
            "events_lost": self.lost,
            "invites_lost": self.invites_expected - self.invites_received,
            "latency_ms_p50": round(self.percentile(50), 2),
            "latency_ms_p99": round(self.percentile(99), 2),
            "latency_ms_mean": round(statistics.fmean(self.latencies_ms), 2)
            if self.latencies_ms
            else None,
        }


def prepare_users(store_url: str, count: int) -> list[tuple[str, str]]:
    """``count`` users with API tokens, written straight into the store the server will use."""
    from talkbox.store import open_store
    from talkbox.web.auth import Accounts

    store = open_store(store_url)
    accounts = Accounts(store)
    accounts.hash_method = "pbkdf2:sha256:1000"  # these passwords guard nothing
    users = []
    for i in range(count):
        name = f"load_{i}"
        accounts.create_user(name, secrets.token_urlsafe(12), replace=True)
        _, token = accounts.issue_token(name, "load")
        users.append((name, token))
    store.close()
    return users


class Server(Gunicorn):
    def __init__(
        self, store_url: str, threads: int, provider: str = "twilio", workers: int = 1
    ) -> None:
        env = {
            "TALKBOX_STORE": store_url,
            "TALKBOX_PROVIDER": provider,
            "TALKBOX_SECRET_KEY": "load",
            "TALKBOX_THREADS": str(threads),
        }
        if provider == "twilio":
            env.update(
                {
                    "TALKBOX_PUBLIC_URL": PUBLIC,
                    "TWILIO_ACCOUNT_SID": ACCOUNT,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_CALLER_ID": "+14155552671",
                }
            )
        else:
            env["TALKBOX_LOOPBACK_ONLY"] = "1"
        super().__init__(env, workers=workers)

    def stop(self) -> None:
        self.kill()


class Streams:
    """One SSE connection per user; counts each user's events per room and the invites each
    room's callee gets, and records when a room's ``conference-ended`` reaches its caller."""

    def __init__(self, port: int, users: list[tuple[str, str]]) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.received: dict[tuple[str, str], int] = defaultdict(int)  # (user, room) -> events
        self.invites: dict[str, int] = defaultdict(int)  # room id -> invites received
        self.ended_at: dict[tuple[str, str], float] = {}  # (user, room) -> when it ended
        self.ready = threading.Barrier(len(users) + 1, timeout=120)
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(name, token), daemon=True)
            for name, token in users
        ]
        for thread in self.threads:
            thread.start()
        self.ready.wait()

    def _run(self, name: str, token: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request(
            "GET",
            f"/api/stream?device=load-device-{name}",
            headers={"Authorization": f"Bearer {token}"},
        )
        response = conn.getresponse()
        self.ready.wait()
        event = None
        while not self.stop.is_set():
            line = response.fp.readline()
            if not line:
                return
            text = line.decode().rstrip("\n")
            if text.startswith("event:"):
                event = text[6:].strip()
            elif text.startswith("data:") and event == "call":
                data = json.loads(text[5:])
                now = time.perf_counter()
                with self.lock:
                    self.received[(name, data["conference_id"])] += 1
                    if data["type"] == "conference-ended":
                        self.ended_at[(name, data["conference_id"])] = now
            elif text.startswith("data:") and event == "signal":
                data = json.loads(text[5:])
                if data.get("type") == "invite":
                    with self.lock:
                        self.invites[data["conference_id"]] += 1


def signed_post(
    conn: http.client.HTTPConnection, path: str, params: dict[str, str]
) -> tuple[int, str]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC}{path}", params)
    conn.request(
        "POST",
        path,
        body=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    response = conn.getresponse()
    return response.status, response.read().decode()


class TwilioCalls:
    """A browser dials a number and hangs up before the callee is dialled (signed webhooks)."""

    def __init__(self, conn: http.client.HTTPConnection, users: list[tuple[str, str]]) -> None:
        self.conn = conn
        self.users = users

    def open(self, n: int) -> tuple[str, str, Any] | None:
        """The first request; (room id, caller, what closing needs), or None on an error."""
        name, _ = self.users[n % len(self.users)]
        sid = "CA" + secrets.token_hex(16)
        voice = {
            "CallSid": sid,
            "From": f"client:{name}",
            "To": "+14155550100",
            "CallStatus": "ringing",
            "AccountSid": ACCOUNT,
        }
        status, body = signed_post(self.conn, "/twilio/voice", voice)
        if status != 200 or "<Conference" not in body:
            return None
        room = body.split("<Conference", 1)[1].split(">", 1)[1].split("<", 1)[0]
        return room, name, sid

    def close(self, sid: Any) -> bool:
        done = {
            "CallSid": sid,
            "CallStatus": "completed",
            "CallDuration": "0",
            "SequenceNumber": "1",
            "AccountSid": ACCOUNT,
        }
        status, _ = signed_post(self.conn, "/twilio/call-status", done)
        return status == 204


class LocalCalls:
    """One user's device dials another user, then hangs up while the callee's device rings
    (API commands with bearer tokens)."""

    def __init__(self, conn: http.client.HTTPConnection, users: list[tuple[str, str]]) -> None:
        self.conn = conn
        self.users = users

    def _post(self, token: str, path: str, data: dict[str, Any]) -> tuple[int, Any]:
        self.conn.request(
            "POST",
            path,
            body=json.dumps(data),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = self.conn.getresponse()
        text = response.read().decode()
        return response.status, json.loads(text) if text else None

    def open(self, n: int) -> tuple[str, str, Any] | None:
        caller, token = self.users[(2 * n) % len(self.users)]
        callee, _ = self.users[(2 * n + 1) % len(self.users)]
        status, view = self._post(
            token, "/api/calls", {"to": f"client:{callee}", "device": f"load-device-{caller}"}
        )
        if status != 201:
            return None
        return view["conference_id"], caller, (token, view["call_id"])

    def close(self, state: Any) -> bool:
        token, call_id = state
        status, _ = self._post(token, f"/api/calls/{call_id}/hangup", {})
        return status == 202


def drive(
    port: int,
    users: list[tuple[str, str]],
    rate: float,
    seconds: float,
    warmup: float,
    provider: str = "twilio",
    senders: int = 4,
) -> Result:
    """Send calls at ``rate`` requests per second (two requests a call) for ``seconds``, after
    ``warmup`` seconds at the same rate whose latencies are not counted (the server creates
    its threads and connections then); their events must still all arrive.

    ``senders`` connections share the schedule (call ``n`` is due at ``n * 2 / rate`` and sent
    by sender ``n % senders``), so one slow answer does not hold the rate back, as Twilio and
    browsers do not wait for each other either."""
    result = Result(streams=len(users), calls_sent=0, seconds=seconds)
    lock = threading.Lock()
    interval = 2.0 / rate
    start = time.perf_counter()
    total = int((seconds + warmup) / interval)

    def send(first: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        calls = TwilioCalls(conn, users) if provider == "twilio" else LocalCalls(conn, users)
        for n in range(first, total, senders):
            delay = start + n * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            opened = calls.open(n)
            if opened is None:
                with lock:
                    result.errors += 1
                continue
            room, caller, state = opened
            sent = time.perf_counter()
            with lock:
                result.sent_at[room] = (caller, sent)
                if sent - start < warmup:
                    result.warm.add(room)
            if not calls.close(state):
                with lock:
                    result.errors += 1
        conn.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.calls_sent = total
    result.seconds = time.perf_counter() - start
    return result


def expected_events(store_url: str, rooms: set[str], users: set[str]) -> dict[tuple[str, str], int]:
    """What each user's stream should have received: the events the store logged for the
    run's rooms, per user the event concerns."""
    from talkbox.store import open_store

    store = open_store(store_url)
    expected: dict[tuple[str, str], int] = defaultdict(int)
    after = 0
    try:
        while batch := store.events(after=after, limit=1000):
            for entry in batch:
                room = getattr(entry.event, "conference_id", None)
                if room in rooms:
                    for party in entry.parties:
                        name = party.removeprefix("client:")
                        if name in users:
                            expected[(name, room)] += 1
            after = batch[-1].id
    finally:
        store.close()
    return expected


def run(
    streams: int,
    rate: float,
    seconds: float,
    store: str = "sqlite",
    warmup: float = 2.0,
    provider: str = "twilio",
    workers: int = 1,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if store == "redis":
            store_url = f"redis://127.0.0.1:6379/13?prefix=tbload_{secrets.token_hex(4)}"
        else:
            store_url = f"sqlite:///{tmp}/load.db"
        users = prepare_users(store_url, streams)
        if workers > 1 and store != "redis":
            raise SystemExit("several workers need the Redis store")
        server = Server(store_url, threads=streams + 32, provider=provider, workers=workers)
        try:
            listeners = Streams(server.port, users)
            result = drive(server.port, users, rate, seconds, warmup, provider)
            rooms = set(result.sent_at)
            wanted = {(caller, room) for room, (caller, _) in result.sent_at.items()}
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline:
                with listeners.lock:
                    if wanted <= set(listeners.ended_at):
                        break
                time.sleep(0.05)
            time.sleep(0.2)  # the callees' last events
            listeners.stop.set()
            expected = expected_events(store_url, rooms, {name for name, _ in users})
            with listeners.lock:
                result.events_expected = sum(expected.values())
                result.events_received = sum(
                    min(listeners.received[key], count) for key, count in expected.items()
                )
                if provider == "local":
                    result.invites_expected = len(rooms)
                    result.invites_received = sum(min(1, listeners.invites[r]) for r in rooms)
                result.latencies_ms = [
                    (listeners.ended_at[(caller, room)] - sent) * 1000
                    for room, (caller, sent) in result.sent_at.items()
                    if (caller, room) in listeners.ended_at and room not in result.warm
                ]
        finally:
            server.stop()
            if store == "redis":
                import redis

                client = redis.Redis.from_url("redis://127.0.0.1:6379/13")
                prefix = store_url.rsplit("prefix=", 1)[1]
                keys = list(client.scan_iter(f"{prefix}:*"))
                for i in range(0, len(keys), 1000):
                    client.delete(*keys[i : i + 1000])
    return result.summary()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not timed")
    parser.add_argument("--provider", choices=["twilio", "local"], default="twilio")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (Redis only)")
    args = parser.parse_args(argv)
    summary = run(
        args.streams,
        args.rate,
        args.seconds,
        args.store,
        args.warmup,
        args.provider,
        args.workers,
    )
    print(json.dumps(summary, indent=2))
    clean = summary["errors"] == 0 and summary["events_lost"] == 0
    return 0 if clean and summary["invites_lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
