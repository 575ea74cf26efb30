"""pushbridge's own embedded server (``python -m pushbridge.server``): the Soketi API, Pusher's limits.

The embedded server speaks the same HTTP API as Soketi and starts with the same defaults
(``http://127.0.0.1:6001``, ``app-id`` / ``app-key`` / ``app-secret``), but enforces hosted
Pusher's limits (10 KB payloads, 164-character channel names), so that what works against it
in development also works on Pusher in production.
"""

from __future__ import annotations

from pushbridge.backends.soketi import SoketiBackend
from pushbridge.limits import PUSHER_LIMITS


class EmbeddedBackend(SoketiBackend):
    """Send to the embedded pushbridge server (defaults match ``python -m pushbridge.server``)."""

    base_limits = PUSHER_LIMITS
