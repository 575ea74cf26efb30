"""``"DISPATCH": "sync"``: send before returning, retrying as :mod:`.retry` says."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from pushbridge.backends import BaseBackend
from pushbridge.dispatch import retry
from pushbridge.dispatch.grouping import requests_for, send_request
from pushbridge.events import Event


def send(events: Sequence[Event], backend: BaseBackend) -> list[dict[str, Any]]:
    """Send ``events`` in order, in as few requests as possible; the first failure raises."""
    policy = retry.policy_for(backend.config, retry.SYNC)
    return [
        retry.call(partial(send_request, backend, request), policy, what=f"{backend.alias!r} send")
        for request in requests_for(events, backend.limits.max_batch_size)
    ]
