"""Who is calling the API: users with hashed passwords, browser sessions, API tokens, CSRF.

* Browsers log in with a name and password and get a session cookie (Flask's signed cookie,
  HttpOnly, SameSite=Lax). Every state-changing request from a session must also carry the
  session's CSRF token in ``X-CSRF-Token``: the cookie alone proves nothing about which page
  sent the request.
* API clients send ``Authorization: Bearer <token>``. A token is not sent by browsers on their
  own, so it needs no CSRF token. The store keeps only a SHA-256 digest of it.
* The identity a request acts as is always the authenticated user's: nothing in a request body
  or URL can choose it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from flask import request, session
from werkzeug.security import check_password_hash, generate_password_hash

from talkbox.errors import Conflict, Forbidden, InvalidEndpoint, Unauthorized
from talkbox.ids import new_id
from talkbox.model import Endpoint
from talkbox.store import ApiToken, Store, User

MIN_PASSWORD = 8
TOKEN_PREFIX = "tbk_"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Checked against when the user does not exist, so that a wrong name costs as long as a
# wrong password and the timing does not tell which names exist.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


class WeakPassword(ValueError):
    """A password too short to keep out a guesser."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of one request and how they proved it."""

    name: str
    via: Literal["session", "token"]

    @property
    def endpoint(self) -> str:
        return f"client:{self.name}"


def valid_name(name: object) -> str:
    """User names are client identities, so that a user is reachable as ``client:<name>``."""
    if not isinstance(name, str):
        raise InvalidEndpoint(repr(name), "a user name must be a string")
    return Endpoint.client(name).value


class Accounts:
    """User and token management over a store (the CLI and the API share it)."""

    #: werkzeug's default (scrypt); tests may pick a cheaper one.
    hash_method = "scrypt"

    def __init__(self, store: Store) -> None:
        self.store = store

    def create_user(self, name: str, password: str, *, replace: bool = False) -> User:
        name = valid_name(name)
        if len(password) < MIN_PASSWORD:
            raise WeakPassword(f"a password needs at least {MIN_PASSWORD} characters")
        if not replace and self.store.get_user(name) is not None:
            raise Conflict(f"user {name!r} already exists")
        user = User(name, generate_password_hash(password, self.hash_method), time.time())
        self.store.save_user(user)
        return user

    def authenticate(self, name: str, password: str) -> User:
        user = self.store.get_user(name) if isinstance(name, str) else None
        ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not ok:
            raise Unauthorized("wrong user name or password")
        return user

    def issue_token(self, user: str, label: str = "") -> tuple[ApiToken, str]:
        """A new API token; the secret is returned once and never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(new_id("tok"), user, _digest(secret), label[:100], time.time())
        self.store.save_token(token)
        return token, secret

    def user_for_token(self, secret: str) -> str | None:
        token = self.store.token_by_digest(_digest(secret))
        if token is None or self.store.get_user(token.user) is None:
            return None
        return token.user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class LoginThrottle:
    """Refuses further log-in attempts for a name, or from an address, after too many failures
    in a short time, so that an online guesser gets a handful of tries per window, not
    thousands. In memory, per process: for one process; see ``SharedLoginThrottle``."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if len(times) >= self.limit:
                    wait = int(self.window - (now - times[0])) + 1
                    raise TooManyAttempts(f"too many failed log-ins; try again in {wait} s")

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now)
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, name_key: str) -> None:
        with self._lock:
            self._failures.pop(name_key, None)


class SharedLoginThrottle(LoginThrottle):
    """The same limits over every process sharing a Redis store: with N processes behind a
    load balancer, a guesser must not get N times the tries. One sorted set of failure times
    per key, trimmed to the window and expiring with it."""

    def __init__(self, client: Any, prefix: str, limit: int = 5, window: float = 60.0) -> None:
        super().__init__(limit, window)
        self.client = client
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}:login-failures:{key}"

    def check(self, *keys: str) -> None:
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.zremrangebyscore(self._key(key), "-inf", now - self.window)
            pipe.zrange(self._key(key), 0, 0, withscores=True)
            pipe.zcard(self._key(key))
        answers = pipe.execute()
        for i in range(len(keys)):
            oldest, count = answers[3 * i + 1], answers[3 * i + 2]
            if count >= self.limit and oldest:
                wait = int(self.window - (now - float(oldest[0][1]))) + 1
                raise TooManyAttempts(f"too many failed log-ins; try again in {wait} s")

    def failed(self, *keys: str) -> None:
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.zadd(self._key(key), {f"{now}:{secrets.token_hex(4)}": now})
            pipe.expire(self._key(key), max(1, int(self.window) + 1))
        pipe.execute()

    def succeeded(self, name_key: str) -> None:
        self.client.delete(self._key(name_key))


class TooManyAttempts(Unauthorized):
    """Log-in refused for a while after repeated failures (HTTP 429)."""


# -- per request -------------------------------------------------------------------------------
def log_in(user: User) -> str:
    """Start a session for ``user``; returns its CSRF token."""
    session.clear()
    session["user"] = user.name
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True
    return str(session["csrf"])


def log_out() -> None:
    session.clear()


def csrf_token() -> str | None:
    token = session.get("csrf")
    return str(token) if token else None


def authenticate_request(accounts: Accounts) -> Principal:
    """The request's user, or ``Unauthorized``; checks CSRF on a session's unsafe requests."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("use 'Authorization: Bearer <token>'")
        name = accounts.user_for_token(secret.strip())
        if name is None:
            raise Unauthorized("unknown or revoked API token")
        return Principal(name, "token")
    name = session.get("user")
    if not isinstance(name, str) or accounts.store.get_user(name) is None:
        raise Unauthorized("log in first")
    if request.method in UNSAFE_METHODS:
        check_csrf()
    return Principal(name, "session")


def check_csrf() -> None:
    expected = csrf_token()
    given = request.headers.get("X-CSRF-Token", "")
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise Forbidden("missing or wrong X-CSRF-Token header; get it from GET /api/me")
