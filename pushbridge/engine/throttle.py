"""The inbound rate limit of one connection: a token bucket over every frame it sends."""

from __future__ import annotations

from dataclasses import dataclass

from pushbridge.engine.state import Connection


@dataclass(frozen=True, slots=True)
class Refusal:
    """A frame refused by the rate limit; ``close`` when the client kept going regardless."""

    message: str
    close: bool


def take_token(conn: Connection, now: float) -> Refusal | None:
    """Take one token from the connection's bucket; return the refusal if there is none.

    Every frame a client sends costs a token; tokens come back at ``max_messages_per_second``
    up to ``max_messages_burst``. A refused frame gets ``pusher:error`` 4301 (the connection
    stays, as for rate-limited client events); after ``max_messages_refused`` refusals in a
    row the client is to be closed with 4100, which makes Pusher clients back off and reconnect.
    """
    limits = conn.app.config.limits
    tokens = conn.tokens + (now - conn.tokens_at) * limits.max_messages_per_second
    if tokens > limits.max_messages_burst:
        tokens = limits.max_messages_burst
    conn.tokens_at = now
    if tokens >= 1.0:
        conn.tokens = tokens - 1.0
        conn.refused = 0
        return None
    conn.tokens = tokens
    conn.refused += 1
    rate = f"at most {limits.max_messages_per_second} messages per second per connection"
    if conn.refused > limits.max_messages_refused:
        return Refusal(f"Too many messages ({rate}); back off, then reconnect.", close=True)
    return Refusal(f"Message rejected due to rate limit: {rate}.", close=False)
