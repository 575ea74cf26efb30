"""``pushbridge:history``: ``GET ?channel=NAME&since=N``, the events a browser missed.

A user may read a channel's history exactly when they may subscribe to it: public channels are
open to everyone (as their subscription is), private and presence channels ask the same
authorization callbacks as the auth endpoint, and a ``#server-to-user-ID`` channel belongs to
the signed-in user whose id it names. Refusals are 403 with ``{"error": reason}``; a channel
without history is 404.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from pushbridge.auth import authorize
from pushbridge.backends import get_backend
from pushbridge.conf import DEFAULT_ALIAS
from pushbridge.errors import ValidationError
from pushbridge.history import channel_has_history
from pushbridge.limits import SERVER_TO_USER_PREFIX, requires_auth


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def may_read(user: Any, channel: str) -> tuple[bool, str]:
    """Whether ``user`` may read ``channel``'s history, and why not."""
    if channel.startswith(SERVER_TO_USER_PREFIX):
        owner = channel[len(SERVER_TO_USER_PREFIX) :]
        if getattr(user, "is_authenticated", False) and str(user.pk) == owner:
            return True, ""
        return False, f"Channel {channel!r} belongs to another user."
    if not requires_auth(channel):
        return True, ""
    decision = authorize(user, channel)
    return decision.allowed, decision.reason


@require_GET
def history(request: HttpRequest, using: str = DEFAULT_ALIAS) -> HttpResponse:
    """Answer with the channel's events after ``since`` (see :mod:`pushbridge.history_reader`)."""
    channel, since_text = request.GET.get("channel", ""), request.GET.get("since", "0")
    backend = get_backend(using)
    try:
        backend.limits.check_channel(channel)
    except ValidationError as exc:
        return _error(str(exc), 400)
    try:
        since = int(since_text)
    except ValueError:
        return _error(f"since must be a whole number of 0 or more; got {since_text!r}.", 400)
    if since < 0:
        return _error(f"since must be a whole number of 0 or more; got {since}.", 400)
    if not channel_has_history(backend.config, channel):
        return _error(f"Channel {channel!r} has no history (PUSHBRIDGE[{using!r}]['HISTORY']).", 404)
    allowed, reason = may_read(request.user, channel)
    if not allowed:
        return _error(reason, 403)
    from pushbridge.dispatch.durable import database
    from pushbridge.history_reader import read

    return JsonResponse(read(channel, since, database()))
