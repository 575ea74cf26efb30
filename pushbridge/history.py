"""Which channels keep a history, and how a history event travels.

An alias opts channels in by pattern::

    "HISTORY": {"channels": ["room-*", "private-user.*"], "seconds": 300}

Patterns are shell-style (``*`` any run of characters, ``?`` one, ``[...]`` a set), matched
against the whole channel name. Each event on such a channel gets a stable id and a position
on its channel (1, 2, 3...: see :mod:`pushbridge.positions`), and travels wrapped so that a
receiver can tell what it has already seen::

    {"pushbridge": {"id": "<uuid hex>", "position": 7}, "data": <the original value>}

The original value is embedded as it was encoded: a JSON payload as that JSON, a plain text
payload as a JSON string. Channels without history travel exactly as before.

This module is imported by ``trigger()``; it stays free of Django's ORM.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from fnmatch import fnmatchcase
from functools import lru_cache

from pushbridge.conf import BackendConfig
from pushbridge.events import Event


def channel_has_history(config: BackendConfig, channel: str) -> bool:
    """Whether ``channel`` matches one of the alias's ``HISTORY`` patterns."""
    return bool(config.history_channels) and _matches(config.history_channels, channel)


@lru_cache(maxsize=4096)
def _matches(patterns: tuple[str, ...], channel: str) -> bool:
    return any(fnmatchcase(channel, pattern) for pattern in patterns)


def has_history(config: BackendConfig, events: Iterable[Event]) -> bool:
    """Whether any channel of ``events`` keeps a history."""
    if not config.history_channels:
        return False
    return any(channel_has_history(config, channel) for event in events for channel in event.channels)


def envelope(uid: str, position: int, data: str) -> str:
    """The wire text of a history event whose encoded data is ``data``."""
    try:
        json.loads(data)
        value = data
    except ValueError:
        value = json.dumps(data, ensure_ascii=False)
    return f'{{"pushbridge":{{"id":"{uid}","position":{position}}},"data":{value}}}'
