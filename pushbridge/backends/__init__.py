"""Backends, one per service, and the per-alias cache that hands them out.

``get_backend(alias)`` builds a backend from its settings on first use and keeps it, so that
its pooled HTTP session is reused across triggers. Changing the ``PUSHBRIDGE`` setting (for
example with ``override_settings`` in a test) drops the cache.
"""

from __future__ import annotations

import os
import threading

from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from pushbridge.backends.base import BaseBackend
from pushbridge.conf import DEFAULT_ALIAS, get_config

__all__ = ["BaseBackend", "get_backend", "reset_backends"]

_lock = threading.Lock()
_backends: dict[str, BaseBackend] = {}


def get_backend(alias: str = DEFAULT_ALIAS) -> BaseBackend:
    """Return the backend configured for ``alias``, building it on first use."""
    backend = _backends.get(alias)
    if backend is not None:
        return backend
    with _lock:
        backend = _backends.get(alias)
        if backend is None:
            config = get_config(alias)
            backend = import_string(config.backend)(config)
            _backends[alias] = backend
        return backend


def reset_backends() -> None:
    """Close and forget every built backend; the next use rebuilds from current settings."""
    with _lock:
        backends = list(_backends.values())
        _backends.clear()
    for backend in backends:
        backend.close()


def _on_setting_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "PUSHBRIDGE":
        reset_backends()


setting_changed.connect(_on_setting_changed, dispatch_uid="pushbridge.reset_backends")


def _forget_after_fork() -> None:
    # A forked child must not share the parent's pooled connections (or a lock held at the
    # fork): forget the backends without closing the parent's sockets; they are rebuilt on use.
    global _lock
    _lock = threading.Lock()
    _backends.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
