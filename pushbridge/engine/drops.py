"""A tally of what the core refused to pass on, by reason, for the metrics endpoint.

Plain integers bumped on the paths that refuse input: cheap enough for every frame, and
read only when metrics are scraped.
"""

from __future__ import annotations

#: Reasons the core counts: a frame over the rate limit or the size limit, a frame that is
#: not a Pusher message, a client event that broke a rule.
RATE_LIMITED = "rate_limited"
TOO_LARGE = "message_too_large"
INVALID = "invalid_message"
CLIENT_EVENT_REJECTED = "client_event_rejected"


class Drops:
    """Counts of refused messages by reason."""

    __slots__ = ("by_reason",)

    def __init__(self) -> None:
        self.by_reason: dict[str, int] = {}

    def count(self, reason: str) -> None:
        """One more message refused for ``reason``."""
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
