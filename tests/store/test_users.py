"""Users and API tokens in both stores, and the ``talkbox users`` commands."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from talkbox.cli import cli
from talkbox.store import ApiToken, MemoryStore, SQLiteStore, Store, User
from tests.store.redis_fixture import redis_store


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "redis":
        yield from redis_store(request)  # type: ignore[misc]
        return
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "t.db")
    yield store
    store.close()


def test_users_and_tokens(store: Store) -> None:
    store.save_user(User("bob", "h1", 1.0))
    store.save_user(User("alice", "h2", 2.0))
    store.save_user(User("bob", "h3", 1.0))  # a new password replaces the old
    assert [u.name for u in store.users()] == ["alice", "bob"]
    assert store.get_user("bob") == User("bob", "h3", 1.0)
    assert store.get_user("nobody") is None
    token = ApiToken("tok_1", "bob", "d" * 64, "cli", 3.0)
    store.save_token(token)
    store.save_user(User("bob", "h4", 1.0))  # a password reset keeps the user's tokens
    assert store.tokens("bob") == [token]
    assert store.token_by_digest("d" * 64) == token
    assert store.tokens("bob") == [token]
    assert not store.delete_token("alice", "tok_1")  # not hers
    assert store.delete_user("bob")
    assert store.token_by_digest("d" * 64) is None
    assert not store.delete_user("bob")


def test_a_schema_1_file_gains_the_user_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE tokens; DROP TABLE users; PRAGMA user_version=1;")
    db.close()
    store = SQLiteStore(path)
    store.save_user(User("alice", "h", 1.0))
    assert store.get_user("alice") is not None


def test_users_cli(tmp_path: Path) -> None:
    env = {"TALKBOX_STORE": f"sqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", "alice", "--password", "long-enough"], env=env)
    assert added.exit_code == 0, added.output
    again = runner.invoke(cli, ["users", "add", "alice", "--password", "long-enough"], env=env)
    assert again.exit_code == 2
    assert "already exists" in again.output
    short = runner.invoke(cli, ["users", "add", "bob", "--password", "short"], env=env)
    assert short.exit_code == 2
    assert "at least 8" in short.output
    assert runner.invoke(cli, ["users", "list"], env=env).output == "alice\n"
    assert runner.invoke(cli, ["users", "remove", "alice"], env=env).exit_code == 0
    assert runner.invoke(cli, ["users", "remove", "alice"], env=env).exit_code == 1
