"""Minimal settings: no database, no middleware that would touch the hot path, DEBUG off."""

from __future__ import annotations

SECRET_KEY = "pushbridge-bench-not-secret"  # a local benchmark, never deployed
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "channels_peer.urls"
ASGI_APPLICATION = "channels_peer.asgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
LOGGING_CONFIG = None

# The in-memory layer drops (silently: group_send swallows ChannelFull) any message sent to a
# consumer whose queue already holds ``capacity`` messages. The default of 100 would lose
# events in a burst and turn a throughput benchmark into a loss benchmark, so the queue is made
# deep enough for every event of a round; a Django user bursting events would do the same.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels.layers.InMemoryChannelLayer",
        "CONFIG": {"capacity": 100_000, "expiry": 600},
    }
}
