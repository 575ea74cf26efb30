"""One webhook shape, whichever service sent the webhook.

Pusher, Soketi and the embedded server send the same webhook events, but not quite the same
types: Soketi sends a ``client_event``'s ``data`` as the JSON value the browser sent, where
Pusher and the embedded server send it as JSON text; a presence ``user_id`` arrives as a
number from Soketi when the auth endpoint gave a number. Receivers of pushbridge's signals
should not need to know which service is in front, so the webhook view passes every event
through :func:`normalise` first:

* ``data`` of ``client_event`` is always a string: the JSON text of what the browser sent
  (compact, as pusher-js encodes it), or the browser's string as is;
* ``user_id`` is always a string (or ``None`` where the event has none);
* ``channel``, ``event`` and ``socket_id`` are strings or ``None``.

The event exactly as received stays available to receivers as ``payload``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def normalise(event: Mapping[str, Any]) -> dict[str, Any]:
    """The signal arguments of one webhook event, with the same types from every service."""
    values = {name: _text(event.get(name)) for name in ("channel", "user_id", "event", "socket_id")}
    data = event.get("data")
    if data is not None and not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    values["data"] = data
    return values


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
