"""Settings: one object, read from environment variables, validated with errors that say how
to fix them. The variable names double as the CLI's option names."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import phonenumbers

from talkbox.errors import ConfigError, InvalidEndpoint
from talkbox.model import Endpoint
from talkbox.store import default_sqlite_path

DEFAULT_TOKEN_TTL = 3600
MAX_TOKEN_TTL = 24 * 3600

_SID_PATTERNS = {
    "TWILIO_ACCOUNT_SID": re.compile(r"AC[0-9a-fA-F]{32}"),
    "TWILIO_API_KEY": re.compile(r"SK[0-9a-fA-F]{32}"),
    "TWILIO_TWIML_APP_SID": re.compile(r"AP[0-9a-fA-F]{32}"),
}


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    twiml_app_sid: str | None = None
    caller_id: str | None = None

    def __repr__(self) -> str:  # never print secrets
        return f"TwilioSettings(account_sid={self.account_sid!r}, api_key={self.api_key!r}, ...)"


@dataclass(frozen=True)
class Settings:
    provider: str = "local"
    store: str = field(default_factory=lambda: f"sqlite:///{default_sqlite_path()}")
    public_url: str | None = None
    default_region: str = "US"
    token_ttl: int = DEFAULT_TOKEN_TTL
    twilio: TwilioSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``TALKBOX_*`` and ``TWILIO_*`` variables; raise ConfigError naming the culprit."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        provider = (get("TALKBOX_PROVIDER") or "local").lower()
        store = get("TALKBOX_STORE") or f"sqlite:///{default_sqlite_path()}"
        region = (get("TALKBOX_DEFAULT_REGION") or "US").upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(
                f"TALKBOX_DEFAULT_REGION={region!r} is not a region code; use ISO 3166 "
                "alpha-2 such as US, GB or DE"
            )
        public_url = get("TALKBOX_PUBLIC_URL")
        if public_url is not None:
            parts = urlsplit(public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    f"TALKBOX_PUBLIC_URL={public_url!r} must be an absolute http(s) URL, "
                    "e.g. https://talkbox.example.com"
                )
            public_url = public_url.rstrip("/")
        ttl_text = get("TALKBOX_TOKEN_TTL")
        try:
            ttl = int(ttl_text) if ttl_text else DEFAULT_TOKEN_TTL
        except ValueError:
            raise ConfigError(f"TALKBOX_TOKEN_TTL={ttl_text!r} must be whole seconds") from None
        if not 60 <= ttl <= MAX_TOKEN_TTL:
            raise ConfigError(
                f"TALKBOX_TOKEN_TTL={ttl} must be between 60 and {MAX_TOKEN_TTL} seconds"
            )
        twilio = _twilio(get, region) if provider == "twilio" or get("TWILIO_ACCOUNT_SID") else None
        if provider == "twilio" and public_url is None:
            raise ConfigError(
                "TALKBOX_PUBLIC_URL is required with the twilio provider: Twilio must reach "
                "the webhooks (e.g. https://talkbox.example.com or a tunnel URL)"
            )
        return cls(
            provider=provider,
            store=store,
            public_url=public_url,
            default_region=region,
            token_ttl=ttl,
            twilio=twilio,
        )


def _twilio(get: object, region: str) -> TwilioSettings:
    read = get  # a closure over the environment
    assert callable(read)
    values: dict[str, str | None] = {
        name: read(name)
        for name in (
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_API_KEY",
            "TWILIO_API_SECRET",
            "TWILIO_TWIML_APP_SID",
            "TWILIO_CALLER_ID",
        )
    }
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        if not values[name]:
            raise ConfigError(f"{name} is not set; find it in the Twilio console's account info")
    for name, pattern in _SID_PATTERNS.items():
        value = values[name]
        if value and not pattern.fullmatch(value):
            prefix = pattern.pattern[:2]
            raise ConfigError(f"{name} must be {prefix} followed by 32 hex digits")
    if bool(values["TWILIO_API_KEY"]) != bool(values["TWILIO_API_SECRET"]):
        raise ConfigError("set TWILIO_API_KEY and TWILIO_API_SECRET together (an API key pair)")
    caller_id = values["TWILIO_CALLER_ID"]
    if caller_id:
        try:
            caller_id = str(Endpoint.phone(caller_id, region))
        except InvalidEndpoint as exc:
            raise ConfigError(f"TWILIO_CALLER_ID: {exc}") from None
    return TwilioSettings(
        account_sid=values["TWILIO_ACCOUNT_SID"] or "",
        auth_token=values["TWILIO_AUTH_TOKEN"] or "",
        api_key=values["TWILIO_API_KEY"],
        api_secret=values["TWILIO_API_SECRET"],
        twiml_app_sid=values["TWILIO_TWIML_APP_SID"],
        caller_id=caller_id,
    )
