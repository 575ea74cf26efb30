"""Self-hosted Soketi (and the embedded pushbridge server): the Pusher HTTP API, local defaults.

Soketi speaks the same HTTP API as Pusher, so this is :class:`PusherBackend` with Soketi's
defaults (``http://127.0.0.1:6001``, app ``app-id`` / ``app-key`` / ``app-secret``) and its more
generous limits (100 KB payloads, 200-character channel names). App ids need not be numeric.
"""

from __future__ import annotations

from pushbridge.backends.pusher import PusherBackend
from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.limits import SOKETI_LIMITS


class SoketiBackend(PusherBackend):
    """Send through a Soketi server's HTTP API (defaults match a fresh ``soketi start``)."""

    default_settings = {
        "HOST": DEFAULT_HOST,
        "PORT": DEFAULT_PORT,
        "USE_TLS": False,
        "APP_ID": DEFAULT_APP_ID,
        "KEY": DEFAULT_KEY,
        "SECRET": DEFAULT_SECRET,
    }
    required_settings = ()
    base_limits = SOKETI_LIMITS
