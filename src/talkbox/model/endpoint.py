"""Who can be called: a browser client identity or a telephone number.

Endpoints are parsed once at the edge (API, CLI, webhook) so that everything inside talkbox
holds either ``client:<identity>`` or an E.164 number and never a half-valid string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers

from talkbox.errors import InvalidEndpoint

#: The Voice SDK's identity rule, which talkbox applies to every provider so that a user name
#: valid with the local provider stays valid when the same deployment moves to Twilio.
IDENTITY_RE = re.compile(r"[A-Za-z0-9_]{1,121}")
CLIENT_PREFIX = "client:"

_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a telephone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
_POSSIBLE_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong number of digits for its country",
}


class EndpointKind(StrEnum):
    CLIENT = "client"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A dialable address. Build with :meth:`parse`, :meth:`client` or :meth:`phone`."""

    kind: EndpointKind
    value: str
    #: The text form, built once: every event about this endpoint shares this one string.
    text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = f"{CLIENT_PREFIX}{self.value}" if self.kind is EndpointKind.CLIENT else self.value
        object.__setattr__(self, "text", text)

    def __str__(self) -> str:
        return self.text

    @property
    def is_client(self) -> bool:
        return self.kind is EndpointKind.CLIENT

    @property
    def is_phone(self) -> bool:
        return self.kind is EndpointKind.PHONE

    @classmethod
    def client(cls, identity: str) -> Endpoint:
        """A browser client; ``identity`` uses letters, digits and underscore, at most 121."""
        if not isinstance(identity, str) or not IDENTITY_RE.fullmatch(identity):
            shown = f"{CLIENT_PREFIX}{identity}"
            if not identity:
                raise InvalidEndpoint(shown, "the client identity is empty")
            if len(identity) > 121:
                raise InvalidEndpoint(shown, "a client identity has at most 121 characters")
            raise InvalidEndpoint(
                shown, "a client identity uses only letters, digits and underscore"
            )
        return cls(EndpointKind.CLIENT, identity)

    @classmethod
    def phone(cls, number: str, default_region: str = "US") -> Endpoint:
        """A telephone number, normalised to E.164.

        Numbers without a ``+`` are read as national numbers of ``default_region`` (ISO 3166
        alpha-2). Only numbers libphonenumber considers valid are accepted: a number a carrier
        would reject is better refused here than billed and failed at the provider.
        """
        text = number.strip() if isinstance(number, str) else ""
        if not text:
            raise InvalidEndpoint(str(number), "empty")
        try:
            parsed = phonenumbers.parse(text, default_region.upper() if default_region else None)
        except phonenumbers.NumberParseException as exc:
            reason = _PARSE_REASONS.get(exc.error_type, str(exc))
            if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
                reason = (
                    "no country code: start with + and the country code, "
                    "or configure a default region"
                    if not text.startswith("+")
                    else reason
                )
            raise InvalidEndpoint(text, reason) from None
        possible = phonenumbers.is_possible_number_with_reason(parsed)
        if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
            raise InvalidEndpoint(text, _POSSIBLE_REASONS.get(possible, "not a possible number"))
        if not phonenumbers.is_valid_number(parsed):
            raise InvalidEndpoint(text, "not an assigned number range for its country")
        return cls(
            EndpointKind.PHONE,
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        )

    @classmethod
    def parse(cls, text: str, default_region: str = "US") -> Endpoint:
        """Parse ``client:<identity>`` or a telephone number; anything else is rejected."""
        if not isinstance(text, str):
            raise InvalidEndpoint(repr(text), "expected a string")
        stripped = text.strip()
        if stripped.lower().startswith(CLIENT_PREFIX):
            return cls.client(stripped[len(CLIENT_PREFIX) :])
        if stripped.lower().startswith(("sip:", "sips:")):
            raise InvalidEndpoint(stripped, "SIP addresses are not supported")
        if not stripped:
            raise InvalidEndpoint(text, "empty")
        if not any(ch.isdigit() for ch in stripped):
            raise InvalidEndpoint(
                stripped, "expected client:<identity> or a telephone number such as +14155552671"
            )
        return cls.phone(stripped, default_region)
