"""Provider plug-ins are found through real entry points (a distribution on sys.path)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from talkbox import providers
from talkbox.errors import ConfigError
from talkbox.providers.base import Provider


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install a tiny third-party distribution with three entry points into sys.path."""
    (tmp_path / "acme_talk.py").write_text(
        "from tests.fakes import FakeProvider\n"
        "class AcmeProvider(FakeProvider):\n    name = 'acme'\n"
        "class NotAProvider:\n    pass\n"
    )
    dist = tmp_path / "acme_talk-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-talk\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[talkbox.providers]\n"
        "acme = acme_talk:AcmeProvider\n"
        "bogus = acme_talk:NotAProvider\n"
        "broken = acme_talk_missing:Thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("acme_talk", None)


def test_third_party_provider_loads_by_name(plugin_dist: Path) -> None:
    assert {"acme", "bogus", "broken"} <= set(providers.available())
    provider = providers.load("acme")
    assert issubclass(provider, Provider)
    assert provider.name == "acme"


def test_unknown_name_lists_what_is_installed(plugin_dist: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        providers.load("telnyx")
    message = str(caught.value)
    assert "unknown provider 'telnyx'" in message
    assert "acme" in message
    assert "talkbox.providers" in message


def test_broken_and_wrong_plugins_say_so(plugin_dist: Path) -> None:
    with pytest.raises(ConfigError, match="'broken' failed to load"):
        providers.load("broken")
    with pytest.raises(ConfigError, match="is not a talkbox Provider"):
        providers.load("bogus")
