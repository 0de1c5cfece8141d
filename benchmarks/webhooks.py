"""Signed Twilio status webhooks per second under gunicorn, next to a bare Flask route that
answers the same 204 on the same server (the baseline), both driven by ``wrk``.

Every webhook request is distinct and applies a real change (a ringing leg is answered), so
the figure covers signature validation, parsing, the switchboard's rules, the store, event
publication and the response.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from benchmarks.gunicorn import Gunicorn
from benchmarks.webhook_app import ACCOUNT, AUTH_TOKEN, PUBLIC, leg_sid

ROOT = Path(__file__).resolve().parents[1]
LUA = """
local requests = {}
local path = "%s"
local n = 0
local step = 1
setup = function(thread)
  thread:set("offset", n)
  n = n + 1
end
init = function(args)
  for line in io.lines(args[1]) do
    local signature, body = line:match("([^\\t]+)\\t(.*)")
    table.insert(requests, {signature, body})
  end
  counter = offset or 0
  step = tonumber(args[2])
end
request = function()
  local r = requests[(counter %% #requests) + 1]
  counter = counter + step
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = r[1],
  }, r[2])
end
"""


def requests_file(path: Path, legs: int) -> None:
    validator = RequestValidator(AUTH_TOKEN)
    with path.open("w") as out:
        for i in range(legs):
            params = {
                "CallSid": leg_sid(i),
                "AccountSid": ACCOUNT,
                "CallStatus": "in-progress",
                "SequenceNumber": "1",
                "Timestamp": "Tue, 25 Nov 2026 17:05:00 +0000",
            }
            signature = validator.compute_signature(f"{PUBLIC}/twilio/call-status", params)
            out.write(f"{signature}\t{urlencode(params)}\n")


def wrk(url: str, script: Path, data: Path, seconds: float, threads: int = 2) -> float:
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            "-c8",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script),
            url,
            "--",
            str(data),
            str(threads),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    out = done.stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} requests failed:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def measure(seconds: float = 10.0, rounds: int = 2) -> tuple[float, float]:
    """(webhooks/s, bare/s), each the best of ``rounds`` alternating runs."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package wrk)")
    legs = int(seconds * 6000) + 1000  # more than wrk can send: every request is a first
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "requests.tsv"
        requests_file(data, legs)
        scripts = {}
        for name, path in (("hook", "/twilio/call-status"), ("bare", "/bare")):
            scripts[name] = Path(tmp) / f"{name}.lua"
            scripts[name].write_text(LUA % path)
        env = {
            **os.environ,
            "BENCH_LEGS": str(legs),
            "TALKBOX_RECONCILE_ON_START": "0",
            "TALKBOX_WORKERS": "1",
            "TALKBOX_THREADS": "16",
        }
        server = Gunicorn(env, target="benchmarks.webhook_app:create()", ready_path="/healthz")
        try:
            url = server.url
            hooks, bares = [], []
            for _ in range(rounds):
                bares.append(wrk(url, scripts["bare"], data, seconds / rounds))
                hooks.append(wrk(url, scripts["hook"], data, seconds / rounds))
        finally:
            server.kill()
    return max(hooks), max(bares)


if __name__ == "__main__":
    hook, bare = measure()
    print(f"webhooks/s {hook:.0f}, bare route/s {bare:.0f}, ratio {hook / bare:.3f}")
