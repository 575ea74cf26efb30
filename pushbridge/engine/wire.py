"""WebSocket frames built by hand (RFC 6455), for the paths where aiohttp's writer is too slow.

A published event is turned into one complete frame once and the same ``bytes`` object is
written to every subscriber's transport.
"""

from __future__ import annotations

import struct


def websocket_text_frame(text: str) -> bytes:
    """Return ``text`` as one complete, unmasked WebSocket text frame (server to client)."""
    payload = text.encode("utf-8")
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def websocket_pong_frame(payload: bytes) -> bytes:
    """Return a complete, unmasked WebSocket pong frame (control frames carry <= 125 bytes)."""
    payload = bytes(payload[:125])
    return bytes((0x8A, len(payload))) + payload


def close_reason(reason: str) -> bytes:
    """``reason`` as a WebSocket close reason: at most 123 bytes (RFC 6455), still valid UTF-8."""
    return reason.encode("utf-8", "replace")[:123].decode("utf-8", "ignore").encode("utf-8")
