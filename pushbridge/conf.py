"""Settings -> typed configuration, in the style of Django's ``CACHES``.

Two sources, in this order:

1. Django's ``PUSHBRIDGE`` setting, a dict of aliases::

       PUSHBRIDGE = {
           "default": {"BACKEND": "pusher", "APP_ID": "123", "KEY": "...", "SECRET": "...",
                       "CLUSTER": "eu"},
           "tests": {"BACKEND": "memory"},
       }

2. The ``PUSHBRIDGE_URL`` environment variable, ``http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID``
   (the official SDK's URL form, which means hosted Pusher or a server with its limits). It
   configures the ``default`` alias and needs no Django settings at all, so scripts and workers
   can ``trigger()`` with nothing but the variable. The scheme may name the service instead, so
   that its limits apply: ``soketi://``, ``embedded://`` (plain HTTP) or ``soketi+https://``,
   ``embedded+https://``, ``pusher+https://``.

An alias entry may also carry ``"URL"`` in that same form, with any other key overriding it.
Every error names the setting that is missing or malformed.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from pushbridge.crypto import parse_master_key
from pushbridge.defaults import (
    DEFAULT_CLUSTER,
    DEFAULT_DISPATCH,
    DEFAULT_HISTORY_SECONDS,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_TIMEOUT,
)
from pushbridge.errors import ConfigurationError, EncryptionError

ENV_URL = "PUSHBRIDGE_URL"
DISPATCH_MODES = ("sync", "background", "durable")
SETTING = "PUSHBRIDGE"
DEFAULT_ALIAS = "default"

#: Short names for the built-in backends; anything else is a dotted path to a class.
BACKEND_ALIASES: Mapping[str, str] = {
    "pusher": "pushbridge.backends.pusher.PusherBackend",
    "soketi": "pushbridge.backends.soketi.SoketiBackend",
    "embedded": "pushbridge.backends.embedded.EmbeddedBackend",
    "memory": "pushbridge.backends.memory.MemoryBackend",
}

#: Keys an alias entry may hold; anything else is reported as a probable typo.
KNOWN_KEYS = frozenset(
    {
        "BACKEND",
        "URL",
        "APP_ID",
        "KEY",
        "SECRET",
        "CLUSTER",
        "HOST",
        "HOSTS",
        "PORT",
        "USE_TLS",
        "TIMEOUT",
        "RETRIES",
        "MAX_PAYLOAD_BYTES",
        "ENCRYPTION_MASTER_KEY",
        "OPTIONS",
        "DISPATCH",
        "QUEUE_SIZE",
        "CLIENT_OPTIONS",
        "SHUTDOWN_TIMEOUT",
        "HISTORY",
    }
)


@dataclass(frozen=True)
class BackendConfig:
    """The resolved settings of one alias, with defaults filled in and types checked."""

    alias: str
    backend: str
    app_id: str | None = None
    key: str | None = None
    secret: str | None = field(default=None, repr=False)
    cluster: str | None = None
    host: str | None = None
    port: int | None = None
    #: Every ``(host, port)`` to send to, in order of preference (``HOSTS``, else ``HOST`` and
    #: ``PORT``); ``host`` and ``port`` are the first of them. ``port`` ``None``: the scheme's.
    hosts: tuple[tuple[str, int | None], ...] = ()
    use_tls: bool | None = None
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    #: Retries after the first attempt; None: the dispatch mode's default (``dispatch.retry``).
    retries: int | None = None
    max_payload_bytes: int | None = None
    encryption_master_key: bytes | None = field(default=None, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    #: ``"sync"``: send before ``trigger()`` returns; ``"background"``: queue and batch;
    #: ``"durable"``: write to the database in the caller's transaction, a relay sends.
    dispatch: str = DEFAULT_DISPATCH
    #: Seconds a background sender may take to send its queue when the process stops.
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    #: Channel patterns whose events get positions and are kept ``history_seconds``.
    history_channels: tuple[str, ...] = ()
    history_seconds: int = DEFAULT_HISTORY_SECONDS
    #: Events the background sender may hold before it drops new ones.
    queue_size: int = DEFAULT_QUEUE_SIZE
    #: Options for the browser client, merged over what ``{% pushbridge_js %}`` derives
    #: (``wsHost``, ``wsPort``, ``forceTLS``...): for when browsers reach the server by
    #: another address than Django does.
    client_options: Mapping[str, Any] = field(default_factory=dict)

    def setting_name(self, key: str) -> str:
        """Name a key of this alias the way the user wrote it, for error messages."""
        return f"{SETTING}[{self.alias!r}][{key!r}]"

    def require(self, key: str) -> str:
        """Return a credential (``APP_ID``, ``KEY``, ``SECRET``) or say exactly which is missing."""
        value = getattr(self, key.lower())
        if not value:
            raise ConfigurationError(f"{self.setting_name(key)} is required by backend {self.backend!r} but not set.")
        return str(value)

    def one_per_host(self) -> list[BackendConfig]:
        """This configuration once per host of ``HOSTS``, each naming only that host (for checks)."""
        return [replace(self, host=host, port=port, hosts=((host, port),)) for host, port in self.hosts] or [self]

    def master_key_for(self, channel: str) -> bytes:
        """Return the encryption master key, or say that ``channel`` needs one configured."""
        if self.encryption_master_key is None:
            raise ConfigurationError(
                f"Channel {channel!r} is end-to-end encrypted, but {self.setting_name('ENCRYPTION_MASTER_KEY')} "
                "is not set (a base64 32-byte key; generate one with: openssl rand -base64 32)."
            )
        return self.encryption_master_key


#: Services a URL's scheme may name (``soketi://``, ``soketi+https://``), and the transport
#: their bare scheme means: hosted Pusher is always TLS, a self-hosted server starts without.
URL_SERVICES: Mapping[str, str] = {"pusher": "https", "soketi": "http", "embedded": "http"}
URL_FORM = "http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID, or SERVICE[+https]://... with SERVICE one of " + ", ".join(
    URL_SERVICES
)


def _url_scheme(scheme: str, setting: str) -> tuple[str, str]:
    """``(backend, "http" or "https")`` of a URL scheme: the SDK's ``https``, or ``soketi+https``..."""
    if scheme in ("http", "https"):
        return "pusher", scheme  # the official SDK's form: the service is Pusher(-compatible)
    service, _, transport = scheme.partition("+")
    if service in URL_SERVICES and transport in ("", "http", "https"):
        return service, transport or URL_SERVICES[service]
    raise ConfigurationError(f"{setting} has an unknown scheme {scheme!r} (form: {URL_FORM}).")


def parse_url(url: str, *, setting: str = ENV_URL) -> dict[str, Any]:
    """Turn ``http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID`` (or ``soketi://...``) into setting keys."""
    form = URL_FORM
    parts = urlsplit(url.strip())
    backend, transport = _url_scheme(parts.scheme, setting)
    if not parts.username or not parts.password:
        raise ConfigurationError(f"{setting} must carry the app key and secret as KEY:SECRET@ (form: {form}).")
    if not parts.hostname:
        raise ConfigurationError(f"{setting} has no host (form: {form}).")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 2 or segments[0] != "apps":
        raise ConfigurationError(f"{setting} path must be /apps/APP_ID (form: {form}); got {parts.path!r}.")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{setting} has an invalid port (form: {form}).") from None
    values: dict[str, Any] = {
        "BACKEND": backend,
        "KEY": unquote(parts.username),
        "SECRET": unquote(parts.password),
        "USE_TLS": transport == "https",
        "APP_ID": unquote(segments[1]),
    }
    # Hosted Pusher's API host names its cluster, and browsers need the cluster's WebSocket
    # host (ws-eu.pusher.com), not the API host: keep the cluster rather than the host.
    cluster = _PUSHER_API_HOST.fullmatch(parts.hostname)
    if port == (443 if transport == "https" else 80):
        port = None  # the scheme's own port is no choice of the user's
    if cluster and port is None:
        values["CLUSTER"] = cluster["cluster"] or DEFAULT_CLUSTER
    else:
        values["HOST"] = parts.hostname
        if port is not None:
            values["PORT"] = port
        elif backend != "pusher":  # a URL without a port means the scheme's, not Soketi's 6001
            values["PORT"] = 443 if transport == "https" else 80
    return values


_PUSHER_API_HOST = re.compile(r"api(?:-(?P<cluster>[a-z0-9]+))?\.(?:pusher\.com|pusherapp\.com)")


def resolve_backend_path(name: str) -> str:
    """Return the dotted path of a backend given by short alias or dotted path."""
    return BACKEND_ALIASES.get(name, name)


def _backend_hint(name: str) -> str:
    """What to write instead of an unknown short backend name: the nearest one, if any is near."""
    known = ", ".join(map(repr, BACKEND_ALIASES))
    close = difflib.get_close_matches(name.lower(), BACKEND_ALIASES, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}? (one of {known}, or a dotted path to a class)"
    return f"use one of {known}, or a dotted path to a class."


def _django_settings() -> Any | None:
    """Django's settings object if a settings module is in use, else None (plain scripts)."""
    from django.conf import settings

    if settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE"):
        return settings
    return None


def raw_settings() -> tuple[dict[str, Mapping[str, Any]], str | None]:
    """Return the alias -> entry mapping, and the env var's name when that is where it came from.

    Django's ``PUSHBRIDGE`` setting wins; without it, ``PUSHBRIDGE_URL`` configures ``default``.
    """
    settings = _django_settings()
    configured = getattr(settings, SETTING, None) if settings is not None else None
    if configured is not None:
        if not isinstance(configured, Mapping):
            raise ConfigurationError(
                f"The {SETTING} setting must be a dict of aliases, e.g. "
                f'{{"default": {{"BACKEND": "pusher", ...}}}}; got {type(configured).__name__}.'
            )
        return dict(configured), None
    url = os.environ.get(ENV_URL)
    if url:
        return {DEFAULT_ALIAS: {"URL": url}}, ENV_URL
    raise ConfigurationError(
        f"pushbridge is not configured: set the {SETTING} setting in Django settings, or the "
        f"{ENV_URL} environment variable (http(s)://KEY:SECRET@HOST[:PORT]/apps/APP_ID)."
    )


def get_config(alias: str = DEFAULT_ALIAS) -> BackendConfig:
    """Return the resolved :class:`BackendConfig` of ``alias``."""
    entries, env_var = raw_settings()
    if alias not in entries:
        known = ", ".join(repr(a) for a in entries) or "none"
        raise ConfigurationError(f"{SETTING} has no alias {alias!r}; configured aliases: {known}.")
    entry = entries[alias]
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{SETTING}[{alias!r}] must be a dict; got {type(entry).__name__}.")
    return build_config(alias, entry, url_setting=env_var)


def build_config(alias: str, entry: Mapping[str, Any], *, url_setting: str | None = None) -> BackendConfig:
    """Validate one alias entry and fill in its backend's defaults.

    ``url_setting`` names where a ``URL`` came from when it was not the entry itself.
    """
    from django.utils.module_loading import import_string

    def name(key: str) -> str:
        return f"{SETTING}[{alias!r}][{key!r}]"

    unknown = sorted(set(entry) - KNOWN_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{SETTING}[{alias!r}] has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys are {', '.join(sorted(KNOWN_KEYS))}."
        )
    values: dict[str, Any] = {}
    if entry.get("URL"):
        values.update(parse_url(str(entry["URL"]), setting=url_setting or name("URL")))
    values.update({k: v for k, v in entry.items() if k != "URL"})
    if entry.get("HOSTS") is not None and entry.get("HOST") is not None:
        raise ConfigurationError(f"{name('HOST')} and {name('HOSTS')} are both set; give one of them.")

    backend_name = values.get("BACKEND")
    if not backend_name or not isinstance(backend_name, str):
        raise ConfigurationError(
            f"{name('BACKEND')} is required: one of {', '.join(map(repr, BACKEND_ALIASES))} or a dotted path."
        )
    if "." not in backend_name and backend_name not in BACKEND_ALIASES:
        hint = _backend_hint(backend_name)
        raise ConfigurationError(f"{name('BACKEND')} = {backend_name!r} is not a backend; {hint}")
    path = resolve_backend_path(backend_name)
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"{name('BACKEND')} = {backend_name!r} cannot be imported: {exc}") from None
    defaults: Mapping[str, Any] = getattr(backend_class, "default_settings", {})
    merged = {**defaults, **{k: v for k, v in values.items() if v is not None}}
    if values.get("HOSTS") is not None:
        merged.pop("HOST", None)  # the backend's default host gives way to the list
    port = _optional_int(merged, "PORT", name, low=1, high=65535)
    host = _optional_text(merged, "HOST", name)
    hosts = _hosts(merged["HOSTS"], port, name("HOSTS")) if merged.get("HOSTS") is not None else ()
    if not hosts and host:
        hosts = ((host, port),)

    config = BackendConfig(
        alias=alias,
        backend=path,
        app_id=_optional_text(merged, "APP_ID", name),
        key=_optional_text(merged, "KEY", name),
        secret=_optional_text(merged, "SECRET", name),
        cluster=_optional_text(merged, "CLUSTER", name),
        host=hosts[0][0] if hosts else None,
        port=hosts[0][1] if hosts else port,
        hosts=hosts,
        use_tls=_optional_bool(merged, "USE_TLS", name),
        timeout=_timeout(merged.get("TIMEOUT", DEFAULT_TIMEOUT), name("TIMEOUT")),
        retries=_optional_int(merged, "RETRIES", name, low=0, high=100),
        max_payload_bytes=_optional_int(merged, "MAX_PAYLOAD_BYTES", name, low=1, high=100 * 1024 * 1024),
        encryption_master_key=_master_key(merged.get("ENCRYPTION_MASTER_KEY"), name("ENCRYPTION_MASTER_KEY")),
        options=_options(merged.get("OPTIONS", {}), name("OPTIONS")),
        dispatch=_choice(merged.get("DISPATCH", DEFAULT_DISPATCH), DISPATCH_MODES, name("DISPATCH")),
        shutdown_timeout=_seconds(merged.get("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT), name("SHUTDOWN_TIMEOUT")),
        history_channels=_history_channels(merged.get("HISTORY"), name("HISTORY")),
        history_seconds=_history_seconds(merged.get("HISTORY"), name("HISTORY")),
        queue_size=_optional_int({"QUEUE_SIZE": DEFAULT_QUEUE_SIZE, **merged}, "QUEUE_SIZE", name, low=1, high=10**7)
        or 1,
        client_options=_options(merged.get("CLIENT_OPTIONS", {}), name("CLIENT_OPTIONS")),
    )
    for key in getattr(backend_class, "required_settings", ()):
        config.require(key)
    return config


def _optional_text(values: Mapping[str, Any], key: str, name: Any) -> str | None:
    value = values.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigurationError(f"{name(key)} must be a string; got {type(value).__name__} {value!r}.")
    text = str(value).strip()
    if not text:
        raise ConfigurationError(f"{name(key)} is empty.")
    return text


def _hosts(value: Any, default_port: int | None, setting: str) -> tuple[tuple[str, int | None], ...]:
    """``HOSTS``: a list of ``"host"`` or ``"host:port"`` (``PORT``, else the scheme's, by default)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigurationError(
            f'{setting} must be a non-empty list such as ["10.0.0.1:6001", "10.0.0.2:6001"]; got {value!r}.'
        )
    hosts = []
    for item in value:
        parts = urlsplit(f"//{item}") if isinstance(item, str) else None
        try:
            port = parts.port if parts else None
        except ValueError:
            parts = None
        if parts is None or not parts.hostname or parts.path or parts.query or parts.username:
            raise ConfigurationError(f'{setting} entries must be "host" or "host:port"; got {item!r}.')
        hosts.append((parts.hostname, port if port is not None else default_port))
    return tuple(hosts)


def _optional_int(values: Mapping[str, Any], key: str, name: Any, *, low: int, high: int) -> int | None:
    value = values.get(key)
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name(key)} must be a whole number; got {value!r}.") from None
    if isinstance(value, (bool, float)) or not low <= number <= high:
        raise ConfigurationError(f"{name(key)} must be a whole number from {low} to {high}; got {value!r}.")
    return number


def _optional_bool(values: Mapping[str, Any], key: str, name: Any) -> bool | None:
    value = values.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ConfigurationError(f"{name(key)} must be True or False; got {value!r}.")


def _timeout(value: Any, setting: str) -> tuple[float, float]:
    """Accept one number (connect and read) or a (connect, read) pair, like requests."""
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    try:
        connect, read = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{setting} must be seconds as a number or a (connect, read) pair; got {value!r}."
        ) from None
    if connect <= 0 or read <= 0 or isinstance(value, bool):
        raise ConfigurationError(f"{setting} must be positive; got {value!r}.")
    return (connect, read)


def _master_key(value: Any, setting: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, (str, bytes)):
        raise ConfigurationError(f"{setting} must be a base64 string; got {type(value).__name__}.")
    try:
        return parse_master_key(value, setting=setting)
    except EncryptionError as exc:
        raise ConfigurationError(str(exc)) from None


def _choice(value: Any, choices: tuple[str, ...], setting: str) -> str:
    if value not in choices:
        raise ConfigurationError(f"{setting} must be one of {', '.join(map(repr, choices))}; got {value!r}.")
    return str(value)


def _options(value: Any, setting: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{setting} must be a dict; got {type(value).__name__}.")
    return dict(value)


def _seconds(value: Any, setting: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
        raise ConfigurationError(f"{setting} must be seconds from 0 to 3600; got {value!r}.")
    return float(value)


def _history(value: Any, setting: str) -> Mapping[str, Any]:
    """``{"channels": [patterns], "seconds": 300}``, or nothing (no channel has history)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f'{setting} must be a dict like {{"channels": ["room-*"], "seconds": 300}}.')
    unknown = sorted(set(value) - {"channels", "seconds"})
    if unknown:
        raise ConfigurationError(f"{setting} has unknown key(s) {unknown}; known keys are 'channels', 'seconds'.")
    return value


def _history_channels(value: Any, setting: str) -> tuple[str, ...]:
    patterns = _history(value, setting).get("channels", ())
    if isinstance(patterns, str) or not all(isinstance(p, str) and p for p in patterns):
        raise ConfigurationError(f'{setting}["channels"] must be a list of channel patterns; got {patterns!r}.')
    return tuple(patterns)


def _history_seconds(value: Any, setting: str) -> int:
    seconds = _history(value, setting).get("seconds", DEFAULT_HISTORY_SECONDS)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 30 * 24 * 3600:
        raise ConfigurationError(f'{setting}["seconds"] must be a whole number from 1 to 2592000; got {seconds!r}.')
    return seconds
