"""Settings from the environment, with errors that name the variable and the fix."""

from __future__ import annotations

import pytest

from talkbox.config import MAX_TOKEN_TTL, Settings
from talkbox.errors import ConfigError

SID = "AC" + "a" * 32
TWILIO = {
    "TALKBOX_PROVIDER": "twilio",
    "TALKBOX_PUBLIC_URL": "https://talk.example.com/",
    "TWILIO_ACCOUNT_SID": SID,
    "TWILIO_AUTH_TOKEN": "secret-token",
    "TWILIO_API_KEY": "SK" + "b" * 32,
    "TWILIO_API_SECRET": "api-secret",
    "TWILIO_TWIML_APP_SID": "AP" + "c" * 32,
    "TWILIO_CALLER_ID": "(415) 555-2671",
}


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings.from_env({})
    assert settings.provider == "local"
    assert settings.store == f"sqlite:///{tmp_path}/talkbox/talkbox.db"
    assert settings.default_region == "US"
    assert settings.token_ttl == 3600
    assert settings.twilio is None


def test_twilio_settings_are_validated_and_normalised() -> None:
    settings = Settings.from_env(TWILIO)
    assert settings.public_url == "https://talk.example.com"
    assert settings.twilio is not None
    assert settings.twilio.caller_id == "+14155552671"
    assert "secret" not in repr(settings)  # secrets never printed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_ACCOUNT_SID must be AC followed by 32 hex"),
        ({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN is not set"),
        ({"TWILIO_API_SECRET": ""}, "set TWILIO_API_KEY and TWILIO_API_SECRET together"),
        ({"TWILIO_TWIML_APP_SID": "XX" + "c" * 32}, "TWILIO_TWIML_APP_SID must be AP"),
        ({"TWILIO_CALLER_ID": "12"}, "TWILIO_CALLER_ID"),
        ({"TALKBOX_PUBLIC_URL": ""}, "TALKBOX_PUBLIC_URL is required with the twilio provider"),
        ({"TALKBOX_PUBLIC_URL": "talk.example.com"}, "must be an absolute http(s) URL"),
        ({"TALKBOX_TOKEN_TTL": "abc"}, "TALKBOX_TOKEN_TTL='abc' must be whole seconds"),
        ({"TALKBOX_TOKEN_TTL": str(MAX_TOKEN_TTL + 1)}, "between 60 and 86400"),
        ({"TALKBOX_DEFAULT_REGION": "XX"}, "TALKBOX_DEFAULT_REGION='XX' is not a region"),
    ],
)
def test_bad_settings_name_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({**TWILIO, **change})
