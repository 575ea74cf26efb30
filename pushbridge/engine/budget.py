"""The subscription budget of each client address, so one address cannot fill the server's memory.

Each connection already has its own channel limit; without a budget per address, a client
could open many connections and subscribe each of them to that many channels. Connections
whose address is unknown or exempt (arriving through a trusted proxy) are not counted.
"""

from __future__ import annotations

from pushbridge.engine.state import Connection
from pushbridge.engine.tally import Tally


class SubscriptionBudget:
    """Subscriptions held per client address, against ``per_address`` (``None`` or 0: no limit)."""

    def __init__(self, per_address: int | None) -> None:
        self.per_address = per_address or None
        self.held = Tally()

    def refusal(self, conn: Connection) -> str | None:
        """Why ``conn`` may not take one more subscription, or ``None`` if it may."""
        address, limit = conn.address, self.per_address
        if address is None or limit is None or self.held[address] < limit:
            return None
        return f"Connections from {address} hold {limit} subscriptions, the limit per address."

    def charge(self, conn: Connection) -> None:
        """``conn`` took a subscription."""
        if conn.address is not None:
            self.held.add(conn.address)

    def refund(self, conn: Connection) -> None:
        """``conn`` gave a subscription up."""
        if conn.address is not None:
            self.held.remove(conn.address)

    def clear(self) -> None:
        """Every connection is gone (shutdown)."""
        self.held.clear()
