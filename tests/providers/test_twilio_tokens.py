"""Browser access tokens, decoded with PyJWT as Twilio would read them."""

from __future__ import annotations

import time

import jwt
import pytest

from talkbox.errors import ConfigError, InvalidEndpoint
from talkbox.providers.twilio import TwilioProvider, WebhookUrls
from tests.twilio_sim import ACCOUNT_SID, API_KEY, API_SECRET, APP_SID, provider, settings


def decode(token: str) -> dict[str, object]:
    return jwt.decode(token, API_SECRET, algorithms=["HS256"], issuer=API_KEY)  # type: ignore[no-any-return]


def test_token_carries_identity_voice_grant_and_ttl() -> None:
    before = int(time.time())
    creds = provider().credentials("alice", ttl=600)
    claims = decode(creds.token)
    assert jwt.get_unverified_header(creds.token)["cty"] == "twilio-fpa;v=1"
    assert claims["sub"] == ACCOUNT_SID
    assert claims["grants"] == {
        "identity": "alice",
        "voice": {"incoming": {"allow": True}, "outgoing": {"application_sid": APP_SID}},
    }
    assert before <= int(claims["nbf"]) <= int(time.time())  # type: ignore[call-overload]
    assert int(claims["exp"]) - int(claims["nbf"]) == 600  # type: ignore[call-overload]
    assert (creds.provider, creds.identity, creds.expires_at) == (
        "twilio",
        "alice",
        float(claims["exp"]),  # type: ignore[arg-type]
    )


def test_default_ttl_is_an_hour() -> None:
    claims = decode(provider().credentials("bob").token)
    assert int(claims["exp"]) - int(claims["nbf"]) == 3600  # type: ignore[call-overload]


@pytest.mark.parametrize("ttl", [24 * 3600 + 1, 59, 0, -5])
def test_ttl_beyond_24_hours_or_below_a_minute_is_refused(ttl: int) -> None:
    with pytest.raises(ConfigError, match="between 60 and 86400"):
        provider().credentials("alice", ttl=ttl)


def test_a_day_is_allowed() -> None:
    claims = decode(provider().credentials("alice", ttl=24 * 3600).token)
    assert int(claims["exp"]) - int(claims["nbf"]) == 24 * 3600  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "identity", ["", "alice smith", "bob@example.com", "x" * 122, "client:eve"]
)
def test_bad_identities_are_refused(identity: str) -> None:
    with pytest.raises(InvalidEndpoint):
        provider().credentials(identity)


def test_tokens_need_an_api_key_and_a_twiml_app() -> None:
    bare = TwilioProvider.from_settings(
        settings(api_key=None, api_secret=None, twiml_app_sid=None),
        urls=WebhookUrls("https://x.example"),
    )
    with pytest.raises(
        ConfigError, match="TWILIO_API_KEY, TWILIO_API_SECRET, TWILIO_TWIML_APP_SID"
    ):
        bare.credentials("alice")
