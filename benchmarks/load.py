"""Load harness: N open event streams and a steady rate of signed Twilio webhooks against a
talkbox server under gunicorn, on loopback only, bounded in count and time.

    python -m benchmarks.load --streams 500 --rate 200 --seconds 60 [--store sqlite|redis]

Each "call" is what Twilio sends for a browser that dials a number and hangs up before the
callee is dialled: the voice webhook (the room opens), then the caller leg's ``completed``
status webhook (the room ends). That is six events (``conference-created``, two
``call-created``, two ``call-ended``, ``conference-ended``) for the caller's stream. The harness
reports request errors, events lost (expected but never received by the right stream), and
the latency from sending the status webhook to the stream receiving ``conference-ended``
(apply, store, publish, stream delivery). No request leaves the machine: the room ends before
any leg would be placed at Twilio.
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
    def __init__(self, store_url: str, threads: int) -> None:
        super().__init__(
            {
                "TALKBOX_STORE": store_url,
                "TALKBOX_PROVIDER": "twilio",
                "TALKBOX_PUBLIC_URL": PUBLIC,
                "TALKBOX_SECRET_KEY": "load",
                "TWILIO_ACCOUNT_SID": ACCOUNT,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_CALLER_ID": "+14155552671",
                "TALKBOX_THREADS": str(threads),
            }
        )

    def stop(self) -> None:
        self.kill()


class Streams:
    """One SSE connection per user; records when each room's ``conference-ended`` arrives."""

    def __init__(self, port: int, users: list[tuple[str, str]]) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.received: dict[str, int] = defaultdict(int)  # room id -> events received
        self.ended_at: dict[str, float] = {}
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
                    self.received[data["conference_id"]] += 1
                    if data["type"] == "conference-ended":
                        self.ended_at[data["conference_id"]] = now


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


def drive(
    port: int, users: list[tuple[str, str]], rate: float, seconds: float, warmup: float
) -> Result:
    """Send calls at ``rate`` webhooks per second (two webhooks a call) for ``seconds``, after
    ``warmup`` seconds at the same rate whose latencies are not counted (the server creates
    its threads and connections then); their events must still all arrive."""
    result = Result(streams=len(users), calls_sent=0, seconds=seconds)
    sent_at: dict[str, float] = {}
    warm: set[str] = set()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    interval = 2.0 / rate
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds + warmup:
        due = start + n * interval
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        name, _ = users[n % len(users)]
        sid = "CA" + secrets.token_hex(16)
        voice = {
            "CallSid": sid,
            "From": f"client:{name}",
            "To": "+14155550100",
            "CallStatus": "ringing",
            "AccountSid": ACCOUNT,
        }
        status, body = signed_post(conn, "/twilio/voice", voice)
        if status != 200 or "<Conference" not in body:
            result.errors += 1
            n += 1
            continue
        room = body.split("<Conference", 1)[1].split(">", 1)[1].split("<", 1)[0]
        done = {
            "CallSid": sid,
            "CallStatus": "completed",
            "CallDuration": "0",
            "SequenceNumber": "1",
            "AccountSid": ACCOUNT,
        }
        sent_at[room] = time.perf_counter()
        if sent_at[room] - start < warmup:
            warm.add(room)
        status, _ = signed_post(conn, "/twilio/call-status", done)
        if status != 204:
            result.errors += 1
        n += 1
    result.calls_sent = n
    result.seconds = time.perf_counter() - start
    result.sent_at = sent_at  # type: ignore[attr-defined]
    result.warm = warm  # type: ignore[attr-defined]
    return result


def run(
    streams: int, rate: float, seconds: float, store: str = "sqlite", warmup: float = 2.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if store == "redis":
            store_url = f"redis://127.0.0.1:6379/13?prefix=tbload_{secrets.token_hex(4)}"
        else:
            store_url = f"sqlite:///{tmp}/load.db"
        users = prepare_users(store_url, streams)
        server = Server(store_url, threads=streams + 32)
        try:
            listeners = Streams(server.port, users)
            result = drive(server.port, users, rate, seconds, warmup)
            warm: set[str] = result.warm  # type: ignore[attr-defined]
            sent_at: dict[str, float] = result.sent_at  # type: ignore[attr-defined]
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline:
                with listeners.lock:
                    if len(listeners.ended_at) >= len(sent_at):
                        break
                time.sleep(0.05)
            listeners.stop.set()
            with listeners.lock:
                result.events_expected = 6 * len(sent_at)
                result.events_received = sum(listeners.received[r] for r in sent_at)
                result.latencies_ms = [
                    (listeners.ended_at[r] - t) * 1000
                    for r, t in sent_at.items()
                    if r in listeners.ended_at and r not in warm
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
    parser.add_argument("--rate", type=float, default=200, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not timed")
    args = parser.parse_args(argv)
    summary = run(args.streams, args.rate, args.seconds, args.store, args.warmup)
    print(json.dumps(summary, indent=2))
    return 0 if summary["errors"] == 0 and summary["events_lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
