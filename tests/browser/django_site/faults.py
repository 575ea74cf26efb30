"""Fault injection for the browser tests: the next N requests to a path answer 503.

As a Django that is restarting (a deploy, a crash) would look to the browser for a moment.
Set with ``POST /faults/ {"path": "/pushbridge/auth/", "count": 2}``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

_lock = threading.Lock()
failing: dict[str, int] = {}


def fail_next(path: str, count: int) -> None:
    with _lock:
        failing[path] = count


class FaultMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with _lock:
            left = failing.get(request.path, 0)
            if left:
                failing[request.path] = left - 1
        if left:
            return JsonResponse({"error": "Restarting, try again."}, status=503)
        return self.get_response(request)
