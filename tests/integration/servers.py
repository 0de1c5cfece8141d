"""Real talkbox servers under gunicorn for the integration tests, and signed webhooks to them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.twilio_sim import Delivery, sign

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One gunicorn process serving ``talkbox.web:create_app()`` on 127.0.0.1:<port>."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "deploy/gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "talkbox.web:create_app()",
            ],
            env={**os.environ, "TALKBOX_RECONCILE_ON_START": "0", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            start_new_session=True,  # its own process group: master and workers die together
        )
        deadline = time.monotonic() + 60  # a loaded CI machine starts gunicorn slowly
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gunicorn did not start: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]

    def kill(self) -> None:
        """``kill -9`` the master and its workers, as a crash of the host or container would:
        no shutdown handler runs, nothing is flushed on purpose."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def deliver(self, delivery: Delivery) -> requests.Response:
        """POST a Twilio webhook to this server, signed over the public URL as Twilio would."""
        return requests.post(
            f"{self.url}{delivery.path}" + (f"?{delivery.query}" if delivery.query else ""),
            data=delivery.params,
            headers={"X-Twilio-Signature": sign(delivery.url, delivery.params)},
            timeout=10,
        )


def twilio_env(store: str, **extra: Any) -> dict[str, str]:
    from tests.twilio_sim import ACCOUNT_SID, AUTH_TOKEN, CALLER_ID, PUBLIC_URL

    return {
        "TALKBOX_STORE": store,
        "TALKBOX_PROVIDER": "twilio",
        "TALKBOX_PUBLIC_URL": PUBLIC_URL,
        "TALKBOX_SECRET_KEY": "integration",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_CALLER_ID": CALLER_ID,
        **{k: str(v) for k, v in extra.items()},
    }
