"""Which browser users a call to one of our telephone numbers rings.

A number belongs to one or more identities; a call to it rings every registered device of
every one of them (Twilio rings all devices registered under an identity) and the first to
answer wins (the switchboard's ring group). Configured with ``TWILIO_NUMBER_ROUTES``::

    TWILIO_NUMBER_ROUTES="+14155550100=alice,bob; +442071838750=carol"
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from talkbox.errors import ConfigError, InvalidEndpoint
from talkbox.model import Endpoint

ENV_VAR = "TWILIO_NUMBER_ROUTES"


@dataclass(frozen=True)
class NumberRoutes(Mapping[str, tuple[str, ...]]):
    """E.164 number -> the identities it rings, validated once at start-up."""

    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, routes: Mapping[str, Sequence[str]], default_region: str = "US") -> NumberRoutes:
        """Normalise numbers to E.164 and check identities; ConfigError names the culprit."""
        normalised: dict[str, tuple[str, ...]] = {}
        for number, identities in routes.items():
            try:
                key = Endpoint.phone(number, default_region).value
                people = tuple(
                    Endpoint.client(i.strip().removeprefix("client:")).value for i in identities
                )
            except InvalidEndpoint as exc:
                raise ConfigError(f"{ENV_VAR}: {exc}") from None
            if not people:
                raise ConfigError(f"{ENV_VAR}: {number} routes to nobody")
            normalised[key] = tuple(dict.fromkeys((*normalised.get(key, ()), *people)))
        return cls(normalised)

    @classmethod
    def parse(cls, text: str | None, default_region: str = "US") -> NumberRoutes:
        """Read ``number=identity,identity; number=identity`` (``;`` or newlines between)."""
        routes: dict[str, list[str]] = {}
        for entry in (text or "").replace("\n", ";").split(";"):
            if not entry.strip():
                continue
            number, sep, people = entry.partition("=")
            if not sep:
                raise ConfigError(
                    f"{ENV_VAR}: {entry.strip()!r} should look like +14155550100=alice,bob"
                )
            names = [p for p in (x.strip() for x in people.split(",")) if p]
            routes.setdefault(number.strip(), []).extend(names)
        return cls.of(routes, default_region)

    def __getitem__(self, number: str) -> tuple[str, ...]:
        return self.routes[number]

    def __iter__(self) -> Iterator[str]:
        return iter(self.routes)

    def __len__(self) -> int:
        return len(self.routes)


def routes_from_env(
    env: Mapping[str, str] | None = None, default_region: str = "US"
) -> NumberRoutes:
    """The routes in ``TWILIO_NUMBER_ROUTES`` (none when unset)."""
    import os

    source = os.environ if env is None else env
    return NumberRoutes.parse(source.get(ENV_VAR), default_region)
