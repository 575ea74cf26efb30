"""The JSON codec of the wire and the frames built from it.

Strict both ways: what goes out is always valid UTF-8 JSON, what comes in may not smuggle
``NaN`` or infinities that no other JSON peer could read back.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pushbridge.limits import Limits

PONG_FRAME = '{"event":"pusher:pong","data":{}}'
PING_FRAME = '{"event":"pusher:ping","data":{}}'

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)
_SURROGATE = re.compile("[\ud800-\udfff]")


def encode(message: Any) -> str:
    """Encode a frame (or any JSON value) the way Pusher does: compact, non-ASCII kept as is.

    The result always encodes to UTF-8. Text holding a lone surrogate (what ``json.loads``
    makes of a ``"\\ud800"`` escape from a client or the HTTP API) cannot, so such a message
    is encoded with ASCII escapes instead: the value goes out exactly as it came in. NaN and
    the infinities are not JSON and raise ``ValueError`` (input containing them is refused).
    """
    text = _ENCODER.encode(message)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _ASCII_ENCODER.encode(message)
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity, which no JSON peer can read back.
        raise ValueError(f"{text} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def decode(text: str) -> Any:
    """Parse JSON text strictly: ``NaN``, ``Infinity`` and out-of-range numbers are ``ValueError``.

    Python's ``json`` accepts them by default, and relaying them would hand peers invalid JSON.
    """
    return _DECODER.decode(text)


def error_frame(code: int | None, message: str, channel: str | None = None) -> str:
    """Return a ``pusher:error`` frame; ``data`` is an object, as pysher requires."""
    frame: dict[str, Any] = {"event": "pusher:error", "data": {"code": code, "message": message}}
    if channel is not None:
        frame["channel"] = channel
    return encode(frame)


def check_payload(limits: Limits, data: str, channel: str | None) -> None:
    """:meth:`Limits.check_payload`, counting a lone surrogate as the 3 bytes of a character.

    Lone surrogates cannot be encoded to UTF-8, yet they are valid input (they go out as
    ``\\ud800`` escapes), so their size is measured as that of a replacement character.
    """
    try:
        limits.check_payload(data, channel=channel)
    except UnicodeEncodeError:
        limits.check_payload(_SURROGATE.sub("\ufffd", data), channel=channel)
