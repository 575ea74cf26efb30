"""What the server is told about each app it hosts."""

from __future__ import annotations

from dataclasses import dataclass

from pushbridge.engine.codes import DEFAULT_CACHE_TTL
from pushbridge.limits import PUSHER_LIMITS, Limits


@dataclass(frozen=True)
class AppConfig:
    """One application the server hosts: its credentials and its limits.

    ``max_connections`` of ``None`` means no limit. ``webhooks`` says whether the core should
    emit :class:`~pushbridge.engine.outputs.WebhookEvent` outputs for this app (the I/O layer
    knows where to post them).
    """

    app_id: str
    key: str
    secret: str
    limits: Limits = PUSHER_LIMITS
    max_connections: int | None = None
    client_events: bool = True
    webhooks: bool = False
    cache_ttl: float = DEFAULT_CACHE_TTL
