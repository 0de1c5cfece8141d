"""Provider plug-ins, found through the ``talkbox.providers`` entry-point group.

A third party adds a provider without touching talkbox::

    [project.entry-points."talkbox.providers"]
    telnyx = "talkbox_telnyx:TelnyxProvider"
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from talkbox.errors import ConfigError
from talkbox.providers.base import Provider

GROUP = "talkbox.providers"


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Names of the installed provider plug-ins, sorted."""
    return sorted(_entry_points())


def load(name: str) -> type[Provider]:
    """The provider class registered as ``name``; a clear error lists the installed ones."""
    found = _entry_points()
    if name not in found:
        installed = ", ".join(sorted(found)) or "none"
        raise ConfigError(
            f"unknown provider {name!r}; installed providers: {installed} "
            f"(plug-ins register in the {GROUP!r} entry-point group)"
        )
    try:
        provider = found[name].load()
    except Exception as exc:  # a broken plug-in must not look like a missing one
        raise ConfigError(f"provider {name!r} failed to load: {exc}") from exc
    if not (isinstance(provider, type) and issubclass(provider, Provider)):
        raise ConfigError(f"provider {name!r} ({found[name].value}) is not a talkbox Provider")
    return provider


__all__ = ["GROUP", "Provider", "available", "load"]
