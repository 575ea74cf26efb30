"""CORS for the HTTP side (the API, ``/health``, ``/ready``, ``/metrics``), so browsers may call it.

Without these headers a browser page calling ``/health`` or the API is blocked by the
browser itself. Preflight requests (``OPTIONS`` with ``Access-Control-Request-Method``) are
answered here, before any signature check: a preflight never carries credentials.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Methods the HTTP side answers.
ALLOWED_METHODS = "GET, POST, OPTIONS"
#: How long a browser may cache a preflight answer, in seconds.
PREFLIGHT_MAX_AGE = "600"


def cors_headers(origin: str | None, allowed: frozenset[str]) -> dict[str, str]:
    """The CORS headers for a request from ``origin``; none if that origin is not allowed.

    ``allowed`` holds origins (``https://app.example``) or ``*`` for any.
    """
    if "*" in allowed:
        return {"Access-Control-Allow-Origin": "*"}
    if origin is not None and origin in allowed:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def preflight_headers(request_headers: Mapping[str, str], allowed: frozenset[str]) -> dict[str, str]:
    """The answer to a preflight: the origin's CORS headers, methods, and the headers it asked for."""
    headers = cors_headers(request_headers.get("Origin"), allowed)
    if not headers:
        return {}
    headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    requested = request_headers.get("Access-Control-Request-Headers")
    if requested:
        headers["Access-Control-Allow-Headers"] = requested
    headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return headers
