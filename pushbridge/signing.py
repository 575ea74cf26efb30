"""Pure HMAC functions: HTTP API request signing, channel and user auth, webhook signatures.

Pusher signs everything the same way: a lowercase hex HMAC-SHA256, keyed with the app secret,
over a UTF-8 string, and tokens have the form ``<key>:<hex>``. What differs is the string:

==========================  ===================================================
channel (private)           ``<socket_id>:<channel>``
channel (presence)          ``<socket_id>:<channel>:<channel_data>``
user (signin)               ``<socket_id>::user::<user_data>``
HTTP API request            ``<METHOD>\\n<path>\\n<sorted query, not escaped>``
webhook                     the raw request body
==========================  ===================================================

Signatures are always computed over the exact text received or sent, never over a
re-serialization, and compared in constant time. This module imports nothing from Django
and does no I/O, so both the client side and the embedded server trust it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from pushbridge.errors import SignatureError

AUTH_VERSION = "1.0"
#: How far ``auth_timestamp`` may drift from the server's clock (Pusher: 600 s).
TIMESTAMP_WINDOW_SECONDS = 600
#: MD5 of the empty body, sent as ``body_md5`` on requests without a body.
EMPTY_BODY_MD5 = hashlib.md5(b"").hexdigest()


def _text(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def hmac_hex(secret: str | bytes, message: str | bytes) -> str:
    """Return the lowercase hex HMAC-SHA256 of ``message`` keyed with ``secret``."""
    return hmac.new(_text(secret), _text(message), hashlib.sha256).hexdigest()


def body_md5(body: bytes) -> str:
    """Return the hex MD5 of a request body, as the ``body_md5`` parameter carries it."""
    return hashlib.md5(body).hexdigest()


# -- channel and user authentication ----------------------------------------------------------


def channel_string_to_sign(socket_id: str, channel: str, channel_data: str | None = None) -> str:
    """Return the text a private (no data) or presence (with data) channel token signs."""
    if channel_data is None:
        return f"{socket_id}:{channel}"
    return f"{socket_id}:{channel}:{channel_data}"


def sign_channel(key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None) -> str:
    """Return the ``<key>:<hex>`` token that lets ``socket_id`` subscribe to ``channel``."""
    return f"{key}:{hmac_hex(secret, channel_string_to_sign(socket_id, channel, channel_data))}"


def user_string_to_sign(socket_id: str, user_data: str) -> str:
    """Return the text a signin token signs."""
    return f"{socket_id}::user::{user_data}"


def sign_user(key: str, secret: str, socket_id: str, user_data: str) -> str:
    """Return the ``<key>:<hex>`` token that signs ``socket_id`` in as ``user_data``."""
    return f"{key}:{hmac_hex(secret, user_string_to_sign(socket_id, user_data))}"


def verify_token(key: str, secret: str, token: object, string_to_sign: str) -> None:
    """Check a ``<key>:<hex>`` token against ``string_to_sign``; raise :class:`SignatureError`.

    The reason says which part was wrong (shape, key, signature) without revealing the
    expected signature.
    """
    if not isinstance(token, str) or ":" not in token:
        raise SignatureError(f"Auth token {token!r} is not of the form '<key>:<signature>'.")
    token_key, _, signature = token.partition(":")
    if not hmac.compare_digest(_text(token_key), _text(key)):
        raise SignatureError(f"Auth token was signed for app key {token_key!r}, not this app's key.")
    expected = hmac_hex(secret, string_to_sign)
    if not hmac.compare_digest(_text(signature), _text(expected)):
        raise SignatureError(f"Invalid signature: expected HMAC SHA256 hex digest of {string_to_sign!r}.")


# -- HTTP API requests ------------------------------------------------------------------------


def request_string_to_sign(method: str, path: str, params: Mapping[str, Any]) -> str:
    """Return ``METHOD\\npath\\nquery`` with lower-cased keys, sorted, values not escaped."""
    pairs = sorted((str(name).lower(), str(value)) for name, value in params.items() if name != "auth_signature")
    query = "&".join(f"{name}={value}" for name, value in pairs)
    return f"{method.upper()}\n{path}\n{query}"


def sign_request(
    key: str,
    secret: str,
    method: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Return the full query of a signed HTTP API request.

    The result holds ``params`` plus ``auth_key``, ``auth_timestamp``, ``auth_version``,
    ``body_md5`` (always, like the official SDK; MD5 of the empty body for GET) and
    ``auth_signature``.
    """
    query = {str(k): str(v) for k, v in (params or {}).items()}
    query.update(
        auth_key=key,
        auth_timestamp=str(int(time.time()) if timestamp is None else timestamp),
        auth_version=AUTH_VERSION,
        body_md5=body_md5(body),
    )
    query["auth_signature"] = hmac_hex(secret, request_string_to_sign(method, path, query))
    return query


def verify_request(
    key: str,
    secret: str,
    method: str,
    paths: str | tuple[str, ...],
    query: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    window: int = TIMESTAMP_WINDOW_SECONDS,
) -> None:
    """Check a signed HTTP API request; raise :class:`SignatureError` naming what failed.

    ``query`` holds the percent-decoded parameters. ``paths`` may list several spellings of the
    path (raw as received, then decoded): clients differ in how they escape channel names, and
    the signature is accepted if it matches any of them.
    """
    for required in ("auth_key", "auth_timestamp", "auth_signature"):
        if required not in query:
            raise SignatureError(f"Missing query parameter {required!r}.")
    if not hmac.compare_digest(_text(query["auth_key"]), _text(key)):
        raise SignatureError(f"Unknown auth_key {query['auth_key']!r}.")
    version = query.get("auth_version", AUTH_VERSION)
    if version != AUTH_VERSION:
        raise SignatureError(f"Unsupported auth_version {version!r}; only {AUTH_VERSION!r} is known.")
    try:
        stamp = int(query["auth_timestamp"])
    except ValueError:
        raise SignatureError(f"auth_timestamp {query['auth_timestamp']!r} is not a whole number of seconds.") from None
    current = time.time() if now is None else now
    if abs(current - stamp) > window:
        raise SignatureError(
            f"auth_timestamp {stamp} is {int(current - stamp)} s away from the server's clock "
            f"{int(current)}; the limit is {window} s. Check the client's clock."
        )
    if body or "body_md5" in query:
        actual = body_md5(body)
        if query.get("body_md5") != actual:
            raise SignatureError(f"body_md5 {query.get('body_md5')!r} does not match the body's MD5 {actual!r}.")
    signature = _text(query["auth_signature"])
    candidates = (paths,) if isinstance(paths, str) else paths
    for path in dict.fromkeys(candidates):
        if hmac.compare_digest(signature, _text(hmac_hex(secret, request_string_to_sign(method, path, query)))):
            return
    raise SignatureError(
        "Invalid auth_signature: expected HMAC SHA256 hex digest of "
        f"{request_string_to_sign(method, candidates[0], query)!r}."
    )


# -- webhooks ---------------------------------------------------------------------------------


def sign_webhook(secret: str, body: bytes | str) -> str:
    """Return the ``X-Pusher-Signature`` header value for a webhook body."""
    return hmac_hex(secret, body)


def verify_webhook_signature(secret: str, signature: object, body: bytes | str) -> bool:
    """True if ``signature`` is the HMAC of the raw ``body``; compared in constant time."""
    if not isinstance(signature, (str, bytes)):
        return False
    return hmac.compare_digest(_text(signature), _text(sign_webhook(secret, body)))
