"""Endpoints: client identities and E.164 numbers in, clear reasons out."""

from __future__ import annotations

import pytest

from talkbox.errors import InvalidEndpoint
from talkbox.model import Endpoint, EndpointKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("client:alice", "client:alice"),
        ("  client:Bob_2  ", "client:Bob_2"),
        ("CLIENT:carol", "client:carol"),
        ("client:" + "a" * 121, "client:" + "a" * 121),
        ("+14155552671", "+14155552671"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("415 555 2671", "+14155552671"),  # national, default region US
        ("+44 20 7183 8750", "+442071838750"),
    ],
)
def test_valid_endpoints(text: str, expected: str) -> None:
    assert str(Endpoint.parse(text)) == expected


def test_default_region_reads_national_numbers() -> None:
    assert str(Endpoint.parse("020 7183 8750", default_region="GB")) == "+442071838750"
    assert Endpoint.parse("020 7183 8750", "gb").kind is EndpointKind.PHONE


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("client:", "identity is empty"),
        ("client:al ice", "letters, digits and underscore"),
        ("client:al-ice", "letters, digits and underscore"),
        ("client:" + "a" * 122, "at most 121"),
        ("alice", "expected client:<identity> or a telephone number"),
        ("", "empty"),
        ("+1415555", "too short"),
        ("+1415555267100000", "too long"),
        ("+999123456789", "unknown country code"),
        ("+15558675310", "not an assigned number range"),
        ("sip:alice@example.com", "SIP addresses are not supported"),
    ],
)
def test_invalid_endpoints_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidEndpoint) as caught:
        Endpoint.parse(text)
    assert reason in str(caught.value)
    assert caught.value.reason
    assert reason in caught.value.reason


def test_national_number_without_region_asks_for_one() -> None:
    with pytest.raises(InvalidEndpoint, match="country code"):
        Endpoint.phone("415 555 2671", default_region="")


def test_endpoints_are_values() -> None:
    assert Endpoint.parse("client:alice") == Endpoint.client("alice")
    assert hash(Endpoint.parse("+14155552671")) == hash(Endpoint.phone("(415) 555-2671"))
    assert Endpoint.client("alice").is_client
    assert Endpoint.phone("+14155552671").is_phone


def test_non_strings_are_rejected() -> None:
    with pytest.raises(InvalidEndpoint):
        Endpoint.parse(14155552671)  # type: ignore[arg-type]
