"""What the I/O shell moved: frames in and out, deliveries, closes, drops, HTTP statuses.

Plain integers bumped where the shell does the work (a fan-out adds its count once, not per
subscriber) and read only when metrics are scraped.
"""

from __future__ import annotations


class Traffic:
    """Counters of the shell; every ``dict`` maps a label value to its count."""

    __slots__ = (
        "closed",
        "connections_opened",
        "deliveries",
        "dropped",
        "http_requests",
        "messages_in",
        "messages_out",
    )

    def __init__(self) -> None:
        #: WebSocket connections admitted to the core (handshakes sent or refusals).
        self.connections_opened = 0
        #: Frames received from clients (text, binary, pings, pongs).
        self.messages_in = 0
        #: Frames written to clients, fan-out deliveries included.
        self.messages_out = 0
        #: Frames written by fan-outs: one per subscriber reached.
        self.deliveries = 0
        #: Connections closed, by close code.
        self.closed: dict[int, int] = {}
        #: Connections dropped by the shell, by reason (``slow_client``).
        self.dropped: dict[str, int] = {}
        #: HTTP API requests answered, by status.
        self.http_requests: dict[int, int] = {}
