"""Wiring: the :class:`Talkbox` extension (store, provider, switchboard, device hub) and an app
factory for the API, the event stream and authentication.

Any Flask app can mount talkbox::

    tb = Talkbox.from_settings(Settings.from_env())
    tb.init_app(app)            # registers the blueprint under /api

``create_app()`` does that for a stand-alone server; ``serve()`` runs it threaded (each event
stream holds a thread) and, on loopback only, creates demo users and prints their passwords.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, jsonify

from talkbox.config import Settings
from talkbox.errors import ConfigError
from talkbox.providers import load
from talkbox.providers.base import Provider
from talkbox.providers.local import LocalProvider
from talkbox.providers.local.devices import DeviceHub
from talkbox.store import Store, open_store
from talkbox.switchboard import Switchboard
from talkbox.web.auth import Accounts, LoginThrottle
from talkbox.web.stream import StreamHub

log = logging.getLogger("talkbox.web")

EXTENSION = "talkbox"
DEMO_USERS = ("alice", "bob", "carol")

DEFAULTS: Mapping[str, Any] = {
    "TALKBOX_RING_TIMEOUT": 30.0,  # seconds a callee's devices ring before no-answer
    "TALKBOX_GRACE": 5.0,  # seconds a device may be away (a reload) before its legs end
    "TALKBOX_KEEPALIVE": 15.0,  # seconds between ': keepalive' comments on a quiet stream
    "TALKBOX_LOOPBACK_ONLY": False,  # relay only loopback ICE candidates
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "talkbox_session",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
}


class Talkbox:
    """Everything one talkbox deployment shares across requests."""

    def __init__(
        self,
        store: Store,
        provider: Provider,
        *,
        default_region: str = "US",
        keepalive: float = 15.0,
        run_effect: Callable[[Callable[[], None]], Any] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.settings = settings
        self.switchboard = Switchboard(
            store, provider, default_region=default_region, run_effect=run_effect
        )
        self.hub = StreamHub(store, keepalive=keepalive)
        self.accounts = Accounts(store)
        self.login_throttle = _throttle_for(store)
        #: Every connected device: this process's streams, or with a shared store those of
        #: every process (a call placed through one process rings a browser on another).
        self.devices: DeviceHub = self.hub
        self.shared_hub = _shared_hub_for(store, self.hub)
        if self.shared_hub is not None:
            self.devices = self.shared_hub
            self.hub.online_source = self.shared_hub.online
            self.hub.add_listener(self.shared_hub)  # before the provider: presence first
        if isinstance(provider, LocalProvider):
            provider.connect(self.devices, self.switchboard.apply, store)
            self.hub.add_listener(provider)
        self.bridge = _bridge_for(store)
        if self.bridge is None:
            self.hub.start(self.switchboard)
        else:
            # Several processes share the store: streams take every event from the bridge,
            # in log order whichever process committed it (see RedisBridge.sinks).
            self.hub.start()
            self.bridge.sinks.append(self.hub.deliver)
            self.bridge.start()
        self.reconciled = threading.Event()

    def reconcile_in_background(self) -> None:
        """Bring the store up to date with the provider's live view without delaying start-up.

        The local provider takes its legs up from the store first (see ``LocalProvider.connect``);
        one without a store knows none after a restart, and reconciling would end every call
        its browsers are about to reconnect to."""
        if isinstance(self.provider, LocalProvider) and not self.provider.persistent:
            self.reconciled.set()
            return

        def run() -> None:
            try:
                result = self.switchboard.reconcile()
                log.info("reconciled with %s: %s", self.provider.name, result)
            except Exception:
                log.exception("reconciling with %s failed", self.provider.name)
            finally:
                self.reconciled.set()

        threading.Thread(target=run, name="talkbox-reconcile", daemon=True).start()

    @property
    def local(self) -> LocalProvider | None:
        """The local provider, when it is the one in use (it takes device signalling)."""
        return self.provider if isinstance(self.provider, LocalProvider) else None

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        settings: Settings,
        *,
        store: Store | None = None,
        provider: Provider | None = None,
        run_effect: Callable[[Callable[[], None]], Any] | None = None,
    ) -> Talkbox:
        config = {**DEFAULTS, **config}
        store = store or open_store(settings.store)
        if provider is None:
            provider_type = load(settings.provider)
            if issubclass(provider_type, LocalProvider):
                provider = provider_type(
                    ring_timeout=float(config["TALKBOX_RING_TIMEOUT"]),
                    grace=float(config["TALKBOX_GRACE"]),
                    loopback_only=bool(config["TALKBOX_LOOPBACK_ONLY"]),
                )
            else:
                factory = getattr(provider_type, "from_settings", None)
                if factory is None:
                    raise ConfigError(
                        f"provider {settings.provider!r} has no from_settings(); "
                        "pass provider= to create_app"
                    )
                provider = factory(settings)
        return cls(
            store,
            provider,
            default_region=settings.default_region,
            keepalive=float(config["TALKBOX_KEEPALIVE"]),
            run_effect=run_effect,
            settings=settings,
        )

    def init_app(self, app: Flask, url_prefix: str = "/api") -> None:
        from talkbox.web import phones, rooms  # noqa: F401  (their routes join the blueprint)
        from talkbox.web.api import api, register_error_handlers

        for key, value in DEFAULTS.items():
            if key.startswith("TALKBOX_"):
                app.config.setdefault(key, value)
        if not app.config.get("SESSION_COOKIE_SAMESITE"):
            app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # secure by default in any app
        app.extensions[EXTENSION] = self
        app.register_blueprint(api, url_prefix=url_prefix)
        register_error_handlers(app, url_prefix)
        app.register_blueprint(health_blueprint(self))
        self._mount_provider_webhooks(app)

    def _mount_provider_webhooks(self, app: Flask) -> None:
        """With the Twilio provider, serve Twilio's webhooks too (``/twilio/...``); a user
        counts as online for inbound routing while one of their softphone pages is open."""
        from talkbox.providers.twilio import TwilioProvider

        if not isinstance(self.provider, TwilioProvider) or self.settings is None:
            return
        from talkbox.web.twilio_hooks import twilio_blueprint

        app.register_blueprint(
            twilio_blueprint(
                self.switchboard,
                self.provider,
                self.settings,
                is_online=lambda identity: bool(self.devices.devices(identity)),
            )
        )

    def close(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        if self.shared_hub is not None:
            self.shared_hub.stop()
        self.hub.stop()
        if isinstance(self.provider, LocalProvider):
            self.provider.close()
        self.switchboard.close()


def _redis_store(store: Store) -> Any:
    """The store when it is Redis (several processes may share it), else None; None too when
    the redis extra is not installed, as then there is no Redis store either."""
    try:
        from talkbox.store.redis_store import RedisStore
    except ImportError:
        return None
    return store if isinstance(store, RedisStore) else None


def _bridge_for(store: Store) -> Any:
    """With a Redis store several processes serve one deployment: relay the events the others
    commit to this process's streams (``talkbox.store.redis_bridge``)."""
    if (redis_store := _redis_store(store)) is None:
        return None
    from talkbox.store.redis_bridge import RedisBridge

    return RedisBridge(redis_store)  # started once the stream hub listens to it


def _throttle_for(store: Store) -> LoginThrottle:
    """Log-in limits over every process sharing a Redis store, else this process's."""
    if (redis_store := _redis_store(store)) is None:
        return LoginThrottle()
    from talkbox.web.auth import SharedLoginThrottle

    return SharedLoginThrottle(redis_store.client, redis_store.prefix)


def _shared_hub_for(store: Store, hub: StreamHub) -> Any:
    """With a Redis store, devices connected to other processes count too."""
    if (redis_store := _redis_store(store)) is None:
        return None
    from talkbox.web.shared_hub import SharedDeviceHub

    return SharedDeviceHub(hub, redis_store).start()


def health_blueprint(tb: Talkbox) -> Blueprint:
    """``/healthz``: the process answers (liveness). ``/readyz``: the store answers and the
    provider is configured (readiness: take traffic). Neither needs a login nor calls the
    provider's API, so a load balancer may poll them often."""
    bp = Blueprint("talkbox_health", __name__)

    @bp.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @bp.get("/readyz")
    def readyz() -> Response:
        checks: dict[str, str] = {}
        try:
            tb.store.history(limit=1)
            checks["store"] = "ok"
        except Exception as exc:  # any failure means "not ready", with the reason
            checks["store"] = f"error: {exc}"
        checks["provider"] = tb.provider.name
        if tb.bridge is not None:
            checks["bridge"] = "ok" if tb.bridge.running else "stopped"
        ready = checks["store"] == "ok" and checks.get("bridge", "ok") == "ok"
        response = jsonify(status="ready" if ready else "not-ready", checks=checks)
        response.status_code = 200 if ready else 503
        return response

    return bp


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    provider: Provider | None = None,
    run_effect: Callable[[Callable[[], None]], Any] | None = None,
    **config: Any,
) -> Flask:
    """A Flask app serving the talkbox API under ``/api``.

    ``settings`` defaults to :meth:`Settings.from_env`; ``config`` overrides Flask and
    ``TALKBOX_*`` keys (``SECRET_KEY``, ``TALKBOX_RING_TIMEOUT`` ...). Without a
    ``SECRET_KEY`` (or ``TALKBOX_SECRET_KEY`` in the environment) a random one is made, so
    sessions do not survive a restart.
    """
    import os

    settings = settings or Settings.from_env()
    reconcile = os.environ.get("TALKBOX_RECONCILE_ON_START", "1").lower() not in ("0", "false")
    app = Flask("talkbox", static_folder=None)
    app.config.update(DEFAULTS)
    app.config.update(settings_from_env(os.environ))
    app.config["SECRET_KEY"] = os.environ.get("TALKBOX_SECRET_KEY") or secrets.token_hex(32)
    if settings.public_url and settings.public_url.startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config.update(config)
    tb = Talkbox.from_config(
        app.config, settings, store=store, provider=provider, run_effect=run_effect
    )
    tb.init_app(app)
    if app.config.get("TALKBOX_RECONCILE_ON_START", reconcile) and not app.testing:
        tb.reconcile_in_background()
    return app


def settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``TALKBOX_*`` app settings given as environment variables (a server started by
    gunicorn has no other way to get them); a malformed value is a ``ConfigError``."""
    found: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        if not key.startswith("TALKBOX_") or key not in environ:
            continue
        text = environ[key].strip()
        if isinstance(default, bool):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ConfigError(f"{key} must be 1 or 0, not {text!r}")
            found[key] = text.lower() in ("1", "true", "yes")
            continue
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{key} must be a number of seconds, not {text!r}") from None
        if not 0 < value < 86_400:
            raise ConfigError(f"{key} must be more than 0 seconds and under a day, not {text!r}")
        found[key] = value
    return found


def talkbox_of(app: Flask) -> Talkbox:
    tb = app.extensions.get(EXTENSION)
    if not isinstance(tb, Talkbox):
        raise RuntimeError("talkbox is not set up on this app; call Talkbox.init_app(app)")
    return tb


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_demo_users(accounts: Accounts, names: tuple[str, ...] = DEMO_USERS) -> dict[str, str]:
    """Give each demo user a fresh random password (created if missing); name -> password."""
    logins = {}
    for name in names:
        password = secrets.token_urlsafe(9)
        accounts.create_user(name, password, replace=True)
        logins[name] = password
    return logins


def serve(app: Flask, host: str = "127.0.0.1", port: int = 8000, demo: bool = True) -> None:
    """Run ``app`` threaded; on loopback, create the demo users and print how to log in."""
    from werkzeug.serving import run_simple

    tb = talkbox_of(app)
    loopback = is_loopback(host)
    if loopback and isinstance(tb.provider, LocalProvider):
        tb.provider.loopback_only = True
    where = getattr(tb.store, "path", None) or type(tb.store).__name__
    print(f"talkbox: {tb.provider.name} provider, store {where}")
    page = any(rule.rule == "/" for rule in app.url_map.iter_rules())
    if page:
        print(f"talkbox: open http://{host}:{port}/ in two browsers (or one private window)")
    else:
        print(f"talkbox: the API is at http://{host}:{port}/api (see the README)")
    if demo and loopback:
        logins = create_demo_users(tb.accounts)
        print("talkbox: demo users (new passwords on every start):")
        for name, password in logins.items():
            print(f"    {name:<6} password {password}")
    elif demo:
        print("talkbox: not on loopback, so no demo users; add users with 'talkbox users add'")
    if not loopback:
        print(f"talkbox: serving on {host}:{port}; put TLS in front of it for other machines")
    run_simple(host, port, app, threaded=True, use_reloader=False)
