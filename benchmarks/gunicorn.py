"""Start talkbox (or any WSGI target) under gunicorn with the deploy config, in its own process
group, and wait until it answers; the load harness, the webhook benchmark and the process tests
share it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """One gunicorn master (and its workers) on 127.0.0.1:<port>."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        target: str = "talkbox.web:create_app()",
        port: int | None = None,
        workers: int = 1,
        ready_path: str = "/readyz",
        stderr: int | IO[bytes] | None = subprocess.DEVNULL,
    ) -> None:
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
                str(workers),
                "--access-logfile",
                "/dev/null",
                target,
            ],
            env={**os.environ, "TALKBOX_RECONCILE_ON_START": "0", **env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: master and workers die together
        )
        deadline = time.monotonic() + 120  # a loaded machine starts gunicorn slowly
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}{ready_path}", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.kill()
                raise RuntimeError(f"gunicorn serving {target} did not become ready")
            time.sleep(0.1)

    def kill(self) -> None:
        """``kill -9`` the master and its workers, as a crash of the host or container would:
        no shutdown handler runs, nothing is flushed on purpose."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
