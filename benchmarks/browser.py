"""Local call set-up time in real Chromium: click "Call" to both peer connections connected.

Two setups share one headless Chromium and run interleaved (softphone, raw, softphone, raw...)
so that both see the same machine load:

* **softphone**: the example app (local provider, memory store) on a threaded werkzeug server
  on 127.0.0.1; alice and bob log in in separate browser contexts; bob's page accepts by itself
  as soon as it rings (a ``MutationObserver`` clicks Accept);
* **raw**: the baseline, two bare pages that do only WebRTC through a minimal relay (a tiny
  threaded HTTP server here: ``POST /send`` to a peer, server-sent events to receive): click,
  getUserMedia, offer, relay, answer (automatic), ICE, connected.

All times are taken in the pages with ``Date.now()`` (the click in a capturing listener, the
``connected`` state through a wrapped ``RTCPeerConnection``), so no Playwright polling sits in
the measured path. Only loopback ICE candidates are signalled by either setup. Each run ends
with a hang-up that closes the connections and stops the microphone, so every run opens the
microphone again on both sides (as a real second call does). One warm-up run of each setup is
not counted. Measure inside a loopback-only namespace (see the README)::

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python -m benchmarks'
"""

from __future__ import annotations

import json
import logging
import os
import queue
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from benchmarks.core import Figure

CHROMIUM = os.environ.get("TALKBOX_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "bench-password"
GOAL = "<= 1.2x and <= 150 ms"
TIMEOUT_MS = 15_000

#: In every page before its own scripts: when the click on ``selector`` happened, when each
#: RTCPeerConnection reached ``connected``, how long getUserMedia took.
TIMING = """
(() => {
  window.__bench = { click: 0, accept: 0, connected: [], gum: [], trace: [] };
  const mark = (label) => window.__bench.trace.push([Date.now(), label]);
  document.addEventListener("click", (event) => {
    const hit = event.target.closest && event.target.closest(%(selector)s);
    if (hit) window.__bench.click = Date.now();
  }, true);
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      mark("pc new");
      this.addEventListener("connectionstatechange", () => {
        mark("pc " + this.connectionState);
        if (this.connectionState === "connected") window.__bench.connected.push(Date.now());
      });
      this.addEventListener("icecandidate", (e) => mark(e.candidate ? "ice gathered" : "ice done"));
    }
    setLocalDescription(d) {
      mark("setLocal " + (d && d.type));
      return super.setLocalDescription(d);
    }
    setRemoteDescription(d) {
      mark("setRemote " + d.type);
      return super.setRemoteDescription(d);
    }
  };
  const devices = navigator.mediaDevices;
  const gum = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints) => {
    const start = Date.now();
    const stream = await gum(constraints);
    window.__bench.gum.push(Date.now() - start);
    mark("getUserMedia done");
    return stream;
  };
  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (url, init) => {
    let kind = "";
    try { kind = JSON.parse(init.body).type || ""; } catch (err) { /* no JSON body */ }
    const what = kind + " " + url;
    mark("fetch " + what);
    const response = await nativeFetch(url, init);
    mark("fetched " + response.status + " " + what);
    return response;
  };
  const NativeSource = window.EventSource;
  window.EventSource = class extends NativeSource {
    constructor(...args) {
      super(...args);
      const seen = (e) => mark("received " + (JSON.parse(e.data).type || e.type));
      this.addEventListener("message", seen);
      this.addEventListener("signal", seen);
    }
  };
})();
"""

#: In the callee's softphone page: click Accept once each time the incoming panel shows.
AUTO_ACCEPT = """
document.addEventListener("DOMContentLoaded", () => {
  const incoming = document.getElementById("incoming");
  let clicked = false;
  const check = () => {
    if (incoming.hidden) { clicked = false; return; }
    if (clicked) return;
    clicked = true;
    window.__bench.accept = Date.now();
    document.getElementById("accept").click();
  };
  new MutationObserver(check).observe(incoming, { attributes: true, attributeFilter: ["hidden"] });
  check();
});
"""

#: The baseline page: WebRTC and nothing else. ``?me=alice&peer=bob``.
RAW_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raw WebRTC</title></head>
<body><button type="button" id="call">Call</button><div id="audio"></div>
<script>
const params = new URLSearchParams(location.search);
const me = params.get("me"), peer = params.get("peer");
let pc = null, audio = null, stream = null, pending = [], sending = Promise.resolve();

function loopback(c) {
  const address = (c.candidate || "").split(" ")[4] || "";
  return address === "127.0.0.1" || address === "::1" || address.startsWith("127.");
}
function send(message) {
  // One request at a time keeps the offer ahead of its candidates (as the softphone does).
  sending = sending.then(() => fetch("/send?to=" + peer, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(message),
  })).catch(() => {});
  return sending;
}
async function microphone() {
  if (!stream) stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  return stream;
}
function newPeer() {
  pc = new RTCPeerConnection({ iceServers: [] });
  audio = document.createElement("audio");
  audio.autoplay = true;
  document.getElementById("audio").append(audio);
  for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
  pc.onicecandidate = ({ candidate }) => {
    if (candidate && candidate.candidate && loopback(candidate)) {
      send({ type: "ice", candidate: candidate.toJSON() });
    }
  };
  const mine = audio;
  pc.ontrack = ({ streams }) => { mine.srcObject = streams[0]; };
}
async function flush() {
  for (const c of pending.splice(0)) await pc.addIceCandidate(c).catch(() => {});
}
async function call() {
  await microphone();
  newPeer();
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await send({ type: "offer", sdp: offer.sdp });
}
function hangup(tell) {
  if (pc) pc.close();
  if (audio) { audio.srcObject = null; audio.remove(); }
  if (stream) for (const track of stream.getTracks()) track.stop();
  pc = audio = stream = null;
  pending = [];
  if (tell) send({ type: "bye" });
}
async function onMessage(m) {
  if (m.type === "offer") {
    await microphone();
    newPeer();
    await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await flush();
    await send({ type: "answer", sdp: answer.sdp });
  } else if (m.type === "answer" && pc) {
    await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
    await flush();
  } else if (m.type === "ice") {
    if (!pc || !pc.remoteDescription) pending.push(m.candidate);
    else await pc.addIceCandidate(m.candidate).catch(() => {});
  } else if (m.type === "bye") {
    hangup(false);
  }
}
const source = new EventSource("/events?me=" + me);
source.onmessage = (event) => { onMessage(JSON.parse(event.data)); };
document.getElementById("call").addEventListener("click", call);
window.raw = {
  ready: () => source.readyState === EventSource.OPEN,
  idle: () => pc === null,
  hangup: () => hangup(true),
};
</script></body></html>
"""


class Relay(ThreadingHTTPServer):
    """The baseline's signalling: ``POST /send?to=NAME`` queues a message for NAME, whose page
    reads ``GET /events?me=NAME`` (server-sent events). Nothing else."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), RelayHandler)
        self.queues: dict[str, queue.Queue[bytes | None]] = {}
        self.lock = threading.Lock()
        self.open = True

    def inbox(self, name: str) -> queue.Queue[bytes | None]:
        with self.lock:
            return self.queues.setdefault(name, queue.Queue())

    def stop(self) -> None:
        self.open = False
        with self.lock:
            for q in self.queues.values():
                q.put(None)
        self.shutdown()
        self.server_close()


class RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the softphone's server
    server: Relay

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/":
            self._reply(200, RAW_PAGE.encode(), "text/html; charset=utf-8")
            return
        if url.path != "/events":
            self._reply(404, b"not found")
            return
        inbox = self.server.inbox(parse_qs(url.query)["me"][0])
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b": open\n\n")
            self.wfile.flush()
            while self.server.open:
                try:
                    item = inbox.get(timeout=10)
                except queue.Empty:
                    item = b""
                if item is None:
                    return
                self.wfile.write(b"data: " + item + b"\n\n" if item else b": keepalive\n\n")
                self.wfile.flush()
        except OSError:
            return

    def do_POST(self) -> None:
        url = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if url.path != "/send":
            self._reply(404, b"not found")
            return
        json.loads(body)  # a malformed message is a bug in the page: fail loudly
        self.server.inbox(parse_qs(url.query)["to"][0]).put(body)
        self._reply(204, b"")


@contextmanager
def relay_server() -> Iterator[str]:
    relay = Relay()
    thread = threading.Thread(target=relay.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{relay.server_port}"
    finally:
        relay.stop()


@contextmanager
def softphone_server() -> Iterator[str]:
    """The example softphone as the e2e tests serve it: local provider, memory store."""
    from examples.web.app import build_app
    from werkzeug.serving import make_server

    from talkbox.config import Settings
    from talkbox.providers.local import LocalProvider
    from talkbox.store import MemoryStore
    from talkbox.web import talkbox_of

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log in the timed path
    app = build_app(
        Settings(store="memory"),
        store=MemoryStore(),
        provider=LocalProvider(loopback_only=True),
        SECRET_KEY="bench",
    )
    tb = talkbox_of(app)
    tb.accounts.hash_method = "pbkdf2:sha256:1000"
    for name in ("alice", "bob"):
        tb.accounts.create_user(name, PASSWORD)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
        tb.close()


def _page(browser: Any, init: list[str]) -> Any:
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the page's CSP forbids.
    context = browser.new_context(permissions=["microphone"], bypass_csp=True)
    page = context.new_page()
    page.on("pageerror", lambda exc: print(f"browser bench: page error: {exc}"))
    for script in init:
        page.add_init_script(script)
    return page


def _timing(selector: str) -> str:
    return TIMING % {"selector": json.dumps(selector)}


def _reset(*pages: Any) -> None:
    for page in pages:
        page.evaluate(
            "() => Object.assign(window.__bench,"
            " {click: 0, accept: 0, connected: [], gum: [], trace: []})"
        )


def _collect(caller: Any, callee: Any) -> dict[str, Any]:
    """Wait (outside the measured path) until both pages are connected; read their clocks."""
    for page in (caller, callee):
        page.wait_for_function("window.__bench.connected.length > 0", timeout=TIMEOUT_MS)
    a = caller.evaluate("window.__bench")
    b = callee.evaluate("window.__bench")
    click = a["click"]
    assert click, "the click was not recorded"
    out = {
        "total": max(a["connected"][0], b["connected"][0]) - click,
        "gum_caller": a["gum"][0] if a["gum"] else float("nan"),
        "gum_callee": b["gum"][0] if b["gum"] else float("nan"),
    }
    if b["accept"]:
        out["ring"] = b["accept"] - click
    out["trace"] = sorted(
        [
            (t - click, who, label)
            for who, page in (("caller", a), ("callee", b))
            for t, label in page["trace"]
        ]
    )
    return out


class Softphone:
    def __init__(self, browser: Any, url: str) -> None:
        self.alice = _page(browser, [_timing("#dial")])
        self.bob = _page(browser, [_timing("#dial"), AUTO_ACCEPT])
        for name, page in (("alice", self.alice), ("bob", self.bob)):
            page.goto(url + "/")
            page.wait_for_selector("#login", state="visible")
            page.fill("#login-name", name)
            page.fill("#login-password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_selector("#phone", state="visible")
        self.alice.wait_for_function(
            "(document.querySelector('#users')?.innerText || '').includes('bob (online)')",
            timeout=TIMEOUT_MS,
        )
        self.alice.fill("#dial-to", "bob")

    def run(self) -> dict[str, Any]:
        _reset(self.alice, self.bob)
        self.alice.click("#dial")
        result = _collect(self.alice, self.bob)
        self.alice.click("#hangup")
        for page in (self.alice, self.bob):
            page.wait_for_selector("#call", state="hidden", timeout=TIMEOUT_MS)
            page.wait_for_function(
                "window.talkbox.media.peers.size === 0 && !window.talkbox.state.room",
                timeout=TIMEOUT_MS,
            )
        self.alice.wait_for_selector("#dial:not([disabled])", timeout=TIMEOUT_MS)
        return result


class Raw:
    def __init__(self, browser: Any, url: str) -> None:
        self.alice = _page(browser, [_timing("#call")])
        self.bob = _page(browser, [_timing("#call")])
        self.alice.goto(url + "/?me=alice&peer=bob")
        self.bob.goto(url + "/?me=bob&peer=alice")
        for page in (self.alice, self.bob):
            page.wait_for_function("window.raw && window.raw.ready()", timeout=TIMEOUT_MS)

    def run(self) -> dict[str, Any]:
        _reset(self.alice, self.bob)
        self.alice.click("#call")
        result = _collect(self.alice, self.bob)
        self.alice.evaluate("window.raw.hangup()")
        for page in (self.alice, self.bob):
            page.wait_for_function("window.raw.idle()", timeout=TIMEOUT_MS)
        return result


def _median(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float]) -> str:
    return f"min {min(values):.0f}, max {max(values):.0f}, all {[round(v) for v in values]}"


def _print_trace(label: str, runs: list[dict[str, Any]]) -> None:
    """The timeline of the run nearest the median (``TALKBOX_BENCH_TRACE=1``)."""
    middle = _median(runs, "total")
    run = min(runs, key=lambda r: abs(r["total"] - middle))
    print(f"browser bench: {label} run of {run['total']:.0f} ms, ms after the click:")
    for t, who, what in run["trace"]:
        print(f"  {t:5.0f}  {who:6}  {what}")


#: Steps of each setup: (name, who, the first trace label that ends it); "ring" and "total"
#: name the run's own figures.
STEPS = {
    "softphone": [
        ("caller getUserMedia", "caller", "getUserMedia done"),
        ("caller new pc, offer, ICE gathered", "caller", "fetch  /api/calls"),
        ("POST /calls (with offer), invite at callee", "callee", "received invite"),
        ("invite shown, auto-accept click", "", "ring"),
        ("callee getUserMedia, answer, ICE gathered", "callee", "/accept"),
        ("POST accept (with answer), at caller", "caller", "received answer"),
        ("setRemote answer to both connected", "", "total"),
    ],
    "raw": [
        ("caller getUserMedia", "caller", "getUserMedia done"),
        ("caller new pc, createOffer, setLocal", "caller", "fetch offer"),
        ("offer relayed to callee", "callee", "received offer"),
        ("callee getUserMedia, setRemote, answer", "callee", "fetch answer"),
        ("answer relayed to caller", "caller", "received answer"),
        ("setRemote answer to both connected", "", "total"),
    ],
}


def _step_ends(run: dict[str, Any], steps: list[tuple[str, str, str]]) -> list[float]:
    """When each step ended, in ms after the click (NaN when its mark is missing)."""
    ends = []
    for _, who, end in steps:
        if not who:
            ends.append(run.get(end, float("nan")))
            continue
        marks = (t for t, w, what in run["trace"] if w == who and end in what)
        ends.append(next(marks, float("nan")))
    return ends


def _print_steps(label: str, runs: list[dict[str, Any]]) -> None:
    """Median time of each step, from the traces of all runs (``TALKBOX_BENCH_TRACE=1``)."""
    steps = STEPS[label]
    ends = [_step_ends(run, steps) for run in runs]
    print(f"browser bench: {label} steps, median ms (min-max) over {len(runs)} runs:")
    for i, (name, _, _) in enumerate(steps):
        took = [e[i] - (e[i - 1] if i else 0) for e in ends]
        print(f"  {name:42} {statistics.median(took):6.1f} ({min(took):.0f}-{max(took):.0f})")


def missing() -> str | None:
    """Why the browser benchmark cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return f"skipped: no Chromium at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "skipped: Playwright is not installed"
    return None


def bench_browser(smoke: bool) -> list[Figure]:
    name = "local call: click to both connected (Chromium, median)"
    why = missing()
    if why is not None:
        return [Figure(name, float("nan"), "ms", goal=f"{GOAL} ({why})")]
    from playwright.sync_api import sync_playwright

    runs = 2 if smoke else 10
    soft: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    with (
        softphone_server() as soft_url,
        relay_server() as raw_url,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            softphone, bare = Softphone(browser, soft_url), Raw(browser, raw_url)
            softphone.run(), bare.run()  # warm-up: first microphone, first connections
            for _ in range(runs):
                soft.append(softphone.run())
                time.sleep(0.2)
                raw.append(bare.run())
                time.sleep(0.2)
        finally:
            browser.close()
    soft_ms = _median(soft, "total")
    raw_ms = _median(raw, "total")
    print(f"browser bench: softphone ms: {_spread([r['total'] for r in soft])}")
    print(f"browser bench: raw ms:       {_spread([r['total'] for r in raw])}")
    print(
        f"browser bench: softphone medians: click -> callee rings {_median(soft, 'ring'):.0f} ms, "
        f"getUserMedia caller {_median(soft, 'gum_caller'):.0f} / callee "
        f"{_median(soft, 'gum_callee'):.0f} ms; raw getUserMedia caller "
        f"{_median(raw, 'gum_caller'):.0f} / callee {_median(raw, 'gum_callee'):.0f} ms"
    )
    if os.environ.get("TALKBOX_BENCH_TRACE"):
        for label, done in (("softphone", soft), ("raw", raw)):
            _print_trace(label, done)
            _print_steps(label, done)
    ratio = soft_ms / raw_ms if raw_ms else float("inf")
    return [
        Figure(
            name,
            soft_ms,
            "ms",
            raw_ms,
            "raw pages+relay",
            GOAL,
            ratio <= 1.2 and soft_ms <= 150,
        ),
        Figure("local call: raw RTCPeerConnection pages + relay (median)", raw_ms, "ms"),
        Figure("local call: softphone click to callee rings (median)", _median(soft, "ring"), "ms"),
    ]
