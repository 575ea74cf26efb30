"""``SocketIdMiddleware``: the browser's ``X-Socket-ID`` header, at hand in views and triggers.

The JS shim (and pusher-js setups that add the header) send the connection's socket id with
every request. A valid one becomes ``request.pushbridge_socket_id`` and the current socket
id for ``trigger(..., to_others=True)`` and ``@broadcasts(to_others=True)``; anything else
becomes ``None`` (a forged or stale header can only exclude a connection from its own
events, so it is ignored rather than refused).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from pushbridge.errors import InvalidSocketId
from pushbridge.limits import check_socket_id
from pushbridge.sockets import socket_id_scope

HEADER = "X-Socket-ID"


def socket_id_from(request: HttpRequest) -> str | None:
    """The valid socket id of ``request``'s ``X-Socket-ID`` header, or None."""
    value = request.headers.get(HEADER)
    if not value:
        return None
    try:
        return check_socket_id(value.strip())
    except InvalidSocketId:
        return None


class SocketIdMiddleware:
    """Set ``request.pushbridge_socket_id`` and the current socket id for the request."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self._is_async:
            return self.__acall__(request)
        socket_id = socket_id_from(request)
        request.pushbridge_socket_id = socket_id  # type: ignore[attr-defined]
        with socket_id_scope(socket_id):
            response: HttpResponseBase = self.get_response(request)
            return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        socket_id = socket_id_from(request)
        request.pushbridge_socket_id = socket_id  # type: ignore[attr-defined]
        with socket_id_scope(socket_id):
            response: HttpResponseBase = await self.get_response(request)
            return response
