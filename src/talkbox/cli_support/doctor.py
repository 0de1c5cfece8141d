"""``talkbox doctor``: each check one line, ``ok``/``warn``/``FAIL``, with the fix.

Checks run in order and later ones are skipped when what they need failed (no store to check
without settings), so the first FAIL is the thing to fix first.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Literal

Level = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True)
class Check:
    level: Level
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> fix: {self.fix}" if self.fix and self.level != "ok" else ""
        return f"{self.level:<4}  {self.name:<10} {self.detail}{fix}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def run_checks(server: str | None, api_token: str | None, timeout: float) -> list[Check]:
    from talkbox.config import Settings
    from talkbox.errors import TalkboxError
    from talkbox.providers import available

    checks: list[Check] = []
    try:
        settings = Settings.from_env()
    except TalkboxError as exc:
        return [Check("FAIL", "settings", str(exc), "set or correct that environment variable")]
    checks.append(Check("ok", "settings", "environment read"))

    names = available()
    if settings.provider in names:
        installed = ", ".join(names)
        checks.append(Check("ok", "provider", f"{settings.provider} (installed: {installed})"))
    else:
        checks.append(
            Check(
                "FAIL",
                "provider",
                f"{settings.provider!r} is not installed",
                f"set TALKBOX_PROVIDER to one of {', '.join(names)} or install its plug-in",
            )
        )
    checks += _twilio_checks(settings)
    checks.append(_store_check(settings.store))
    if os.environ.get("TALKBOX_SECRET_KEY"):
        checks.append(Check("ok", "secret", "TALKBOX_SECRET_KEY is set"))
    else:
        checks.append(
            Check(
                "warn",
                "secret",
                "TALKBOX_SECRET_KEY is not set: log-ins end when the server restarts",
                "export TALKBOX_SECRET_KEY=$(openssl rand -hex 32)",
            )
        )
    if server:
        checks.append(_server_check(server, api_token, timeout))
    return checks


def _twilio_checks(settings: object) -> list[Check]:
    from talkbox.config import Settings

    assert isinstance(settings, Settings)
    twilio = settings.twilio
    if twilio is None:
        if settings.provider == "twilio":  # pragma: no cover - from_env refuses this already
            return [Check("FAIL", "twilio", "no credentials", "set TWILIO_ACCOUNT_SID")]
        return []
    checks = [Check("ok", "twilio", f"account {twilio.account_sid[:6]}... credentials well-formed")]
    if not (twilio.api_key and twilio.api_secret):
        checks.append(
            Check(
                "warn",
                "twilio",
                "no API key pair: browser tokens cannot be signed",
                "create an API key in the Twilio console; set TWILIO_API_KEY/TWILIO_API_SECRET",
            )
        )
    if not twilio.twiml_app_sid:
        checks.append(
            Check(
                "warn",
                "twilio",
                "no TwiML App: browsers cannot place calls",
                "set TWILIO_TWIML_APP_SID (the README's Twilio console set-up)",
            )
        )
    if not twilio.caller_id:
        checks.append(
            Check(
                "warn",
                "twilio",
                "no caller id: calls to telephones will be refused",
                "set TWILIO_CALLER_ID to one of your Twilio numbers",
            )
        )
    url = settings.public_url
    if url is None:
        checks.append(
            Check(
                "warn" if settings.provider != "twilio" else "FAIL",
                "public-url",
                "TALKBOX_PUBLIC_URL is not set: Twilio cannot reach the webhooks "
                "(direct CLI mode does not need them)",
                "set TALKBOX_PUBLIC_URL=https://your-host (or a tunnel URL)",
            )
        )
    elif not url.startswith("https://"):
        checks.append(
            Check(
                "warn",
                "public-url",
                f"{url} is not https: Twilio signs and posts webhooks to https URLs",
                "put TLS in front of the server (or use an https tunnel)",
            )
        )
    else:
        checks.append(Check("ok", "public-url", f"webhooks at {url}/twilio/..."))
    return checks


def _store_check(url: str) -> Check:
    from talkbox.store import open_store

    try:
        store = open_store(url)
        try:
            count = len(store.users())
        finally:
            store.close()
    except Exception as exc:  # any failure to reach it is the finding
        return Check(
            "FAIL",
            "store",
            f"{url}: {exc}",
            "check TALKBOX_STORE (memory, sqlite:////abs/path.db, redis://host:6379/0)",
        )
    if count == 0:
        return Check("warn", "store", f"{url} reachable, no users", "talkbox users add NAME")
    return Check("ok", "store", f"{url} reachable, {count} user(s)")


def _server_check(server: str, api_token: str | None, timeout: float) -> Check:
    from talkbox.client import ServerClient, ServerError, ServerUnreachable

    try:
        me = ServerClient(server, api_token, timeout).get("/me")
    except ValueError as exc:
        return Check("FAIL", "server", str(exc), "e.g. --server http://127.0.0.1:8000")
    except ServerUnreachable as exc:
        return Check("FAIL", "server", str(exc), exc.hint)
    except ServerError as exc:
        return Check("FAIL", "server", f"{server}: {exc}", exc.hint or "")
    return Check("ok", "server", f"{server} answers; API token of {me['user']} ({me['provider']})")
