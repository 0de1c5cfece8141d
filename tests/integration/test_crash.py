"""kill -9 the single server with 50 live calls, restart it on the same store: no call is lost,
the restarted server carries on applying webhooks to them, and reconciling with Twilio's view
closes the calls that ended while it was down (with Twilio's reason). With the local provider
the calls are between devices on the API: those whose devices reconnect get them back, those
whose devices never return end after the grace period.

SQLite, then Redis. The live calls are driven by signed webhooks (a browser dials a telephone;
its room waits for the caller to join). The reconciliation runs against a fake of Twilio's REST
API in this process, because the server processes cannot reach one; it reads the same store the
killed and restarted servers wrote.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from talkbox.model import CallStatus, ConferenceStatus, EndReason
from talkbox.store import Store, open_store
from talkbox.switchboard import Switchboard
from tests.integration.servers import Server, twilio_env
from tests.store.redis_fixture import REDIS_URL, scratch_prefix
from tests.twilio_sim import CALLER_ID, FakeTwilio, Leg, _call_body, provider, voice

CALLS = 50


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("gunicorn")
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/crash.db"
        return
    with scratch_prefix() as prefix:
        yield f"{REDIS_URL}?prefix={prefix}"


def snapshot(store: Store) -> list[tuple[str, str, list[tuple[str, str, str | None]]]]:
    return [
        (c.id, c.status.value, [(str(x.endpoint), x.status.value, x.provider_id) for x in c.calls])
        for c in store.live()
    ]


def test_kill_9_with_50_live_calls_loses_none(store_url: str) -> None:
    env = twilio_env(store_url)
    server = Server(env)
    legs = [Leg(f"CA{i:032x}", f"client:user_{i}", "+14155550199") for i in range(CALLS)]
    for leg in legs:
        response = server.deliver(voice(leg.sid, leg.from_, leg.to))
        assert response.status_code == 200, response.text
        assert server.deliver(leg.status("in-progress", time.time())).status_code == 204
    store = open_store(store_url)
    before = snapshot(store)
    assert len(before) == CALLS
    store.close()

    server.kill()
    restarted = Server(env, port=server.port)
    try:
        store = open_store(store_url)
        assert snapshot(store) == before  # 0 calls lost
        # The restarted server carries on: ten callers hang up, their rooms end.
        for leg in legs[:10]:
            done = restarted.deliver(leg.status("completed", time.time(), duration=3))
            assert done.status_code == 204
        assert len(store.live()) == CALLS - 10
    finally:
        restarted.kill()

    # While it was down again, Twilio ended ten more calls (the callers were busy elsewhere, say);
    # the other thirty are still live. Reconciling closes exactly those ten, with Twilio's status.
    with FakeTwilio().running() as twilio:
        twilio.live_calls["in-progress"] = [
            _call_body(leg.sid, leg.to, leg.from_, "in-progress", "inbound") for leg in legs[20:]
        ]
        for leg in legs[10:20]:
            finished = _call_body(leg.sid, leg.to, CALLER_ID, "failed", "inbound")
            finished.update(duration="0", end_time="Tue, 25 Nov 2026 17:05:00 +0000")
            twilio.fail("GET", rf"/Calls/{leg.sid}\.json", (200, finished))
        board = Switchboard(store, provider(), run_effect=lambda work: work())
        result = board.reconcile()
    ended = {c.calls[0].provider_id: c for c in (store.get(cid) for cid, *_ in before)}
    for leg in legs[10:20]:
        room = ended[leg.sid]
        assert room.calls[0].status is CallStatus.FAILED  # Twilio's final status for the leg
        assert room.calls[0].end_reason is EndReason.FAILED
        assert room.status is ConferenceStatus.ENDED  # its queued callee was never dialled
    assert sorted(result.closed) == sorted(ended[leg.sid].calls[0].id for leg in legs[10:20])
    assert len(store.live()) == CALLS - 20
    store.close()


# -- the local provider: the calls are browsers' (devices on the API) ----------------------------
class Device:
    """One user's device: an event stream read on a thread, its signals queued."""

    def __init__(self, url: str, name: str, token: str) -> None:
        self.url, self.name, self.token = url, name, token
        self.id = f"device-{name}"
        self.signals: queue.Queue[dict[str, Any]] = queue.Queue()
        opened = threading.Event()
        threading.Thread(target=self._read, args=(opened,), daemon=True).start()
        assert opened.wait(10), f"{name}'s stream did not open"

    def _read(self, opened: threading.Event) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with requests.get(
                f"{self.url}/api/stream?device={self.id}", headers=headers, stream=True, timeout=60
            ) as response:
                opened.set()
                event = None
                for line in response.iter_lines(decode_unicode=True):
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and event == "signal":
                        self.signals.put(json.loads(line.split(":", 1)[1]))
        except requests.RequestException:
            pass  # the server died

    def post(self, path: str, data: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.url}/api{path}",
            json={"device": self.id, **data},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )

    def signal(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.signals.get(timeout=max(0.01, deadline - time.monotonic()))
            if message["type"] == kind:
                return message


def test_kill_9_with_50_local_calls_loses_none_and_ends_those_nobody_returns_to(
    store_url: str,
) -> None:
    from benchmarks.load import prepare_users

    users = prepare_users(store_url, 2 * CALLS)
    env = {
        "TALKBOX_STORE": store_url,
        "TALKBOX_PROVIDER": "local",
        "TALKBOX_SECRET_KEY": "crash",
        "TALKBOX_GRACE": "2",
        "TALKBOX_THREADS": str(4 * CALLS + 32),
        "TALKBOX_RECONCILE_ON_START": "1",
    }
    server = Server(env)
    devices = [Device(server.url, name, token) for name, token in users]
    for caller, callee in zip(devices[::2], devices[1::2], strict=True):
        dialled = caller.post("/calls", {"to": f"client:{callee.name}"})
        assert dialled.status_code == 201, dialled.text
        invite = callee.signal("invite")
        accepted = callee.post(f"/calls/{invite['call_id']}/accept", {})
        assert accepted.status_code == 200, accepted.text
    store = open_store(store_url)
    assert wait_until(lambda: all(len(s[2]) == 2 for s in snapshot(store)) and snapshot(store))
    before = snapshot(store)
    assert len(before) == CALLS
    assert {status for _, _, legs in before for _, status, _ in legs} == {"in-progress"}

    server.kill()
    restarted = Server(env, port=server.port)
    try:
        assert snapshot(store) == before  # 0 calls lost
        # The browsers of 40 calls come back (their pages reconnect); those of 10 never do.
        back = [
            Device(restarted.url, d.name, d.token)
            for pair in zip(devices[20::2], devices[21::2], strict=True)
            for d in pair
        ]
        for device in back:
            resume = device.signal("resume")  # "you still hold this call"
            assert len(resume["peers"]) == 1
        gone = {cid for cid, *_ in before[:10]}
        # Within presence expiry (6 s, Redis) + grace (2 s) + a sweep (2 s); generous on a busy box.
        assert wait_until(lambda: not gone & {c.id for c in store.live()}, timeout=40)
        for conf_id in gone:
            room = store.get(conf_id)
            assert room.status is ConferenceStatus.ENDED
            assert {c.status for c in room.calls} == {CallStatus.FAILED}
        assert snapshot(store) == before[10:]  # the others are untouched
        # ...and carry on through the restarted server.
        hangup = back[0].post(f"/calls/{store.get(before[10][0]).caller.id}/hangup", {})
        assert hangup.status_code == 202, hangup.text
        assert back[1].signal("peer-left")["from"] == store.get(before[10][0]).caller.provider_id
        assert wait_until(lambda: len(store.live()) == CALLS - 11)
    finally:
        restarted.kill()
        store.close()


def wait_until(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value
