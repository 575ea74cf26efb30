"""Counts per key that forget a key when its count falls to zero.

The server counts open connections and held subscriptions per client address. Addresses come
and go by the million on a server exposed to the internet: a count that stayed behind at zero
for each would grow the server's memory without end, so a key lives only while its count is
positive.
"""

from __future__ import annotations


class Tally:
    """A count per key, with no entry for a key whose count is zero."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def __getitem__(self, key: str) -> int:
        return self._counts.get(key, 0)

    def __len__(self) -> int:
        """How many keys have a positive count."""
        return len(self._counts)

    def add(self, key: str) -> None:
        self._counts[key] = self._counts.get(key, 0) + 1

    def remove(self, key: str) -> None:
        """Take one from ``key``'s count; the key is forgotten at zero (and never goes below)."""
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)

    def clear(self) -> None:
        self._counts.clear()
