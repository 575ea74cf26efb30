"""The sans-I/O core of the embedded server, by its public names.

The core lives in :mod:`pushbridge.engine` (one module per concern); this module gathers what
code outside the server uses of it: :class:`PusherCore`, :class:`AppConfig`, the outputs, the
bus interface and the JSON codec.
"""

from __future__ import annotations

from pushbridge.engine.bus import Bus, ChannelInfo, LocalBus
from pushbridge.engine.codec import decode, encode, error_frame
from pushbridge.engine.codes import (
    APP_NOT_FOUND,
    CLIENT_EVENT_REJECTED,
    DEFAULT_ACTIVITY_TIMEOUT,
    DEFAULT_CACHE_MISS_WINDOW,
    DEFAULT_CACHE_TTL,
    DEFAULT_PONG_TIMEOUT,
    OVER_CAPACITY,
    PONG_NOT_RECEIVED,
    RECONNECT_NOW,
    SUPPORTED_PROTOCOLS,
    UNAUTHORIZED,
    UNSUPPORTED_PROTOCOL,
)
from pushbridge.engine.config import AppConfig
from pushbridge.engine.core import PusherCore
from pushbridge.engine.outputs import CloseConnection, Fanout, HttpReply, Output, Pong, SendFrame, WebhookEvent
from pushbridge.engine.state import Connection

__all__ = [
    "APP_NOT_FOUND",
    "CLIENT_EVENT_REJECTED",
    "DEFAULT_ACTIVITY_TIMEOUT",
    "DEFAULT_CACHE_MISS_WINDOW",
    "DEFAULT_CACHE_TTL",
    "DEFAULT_PONG_TIMEOUT",
    "OVER_CAPACITY",
    "PONG_NOT_RECEIVED",
    "RECONNECT_NOW",
    "SUPPORTED_PROTOCOLS",
    "UNAUTHORIZED",
    "UNSUPPORTED_PROTOCOL",
    "AppConfig",
    "Bus",
    "ChannelInfo",
    "CloseConnection",
    "Connection",
    "Fanout",
    "HttpReply",
    "LocalBus",
    "Output",
    "Pong",
    "PusherCore",
    "SendFrame",
    "WebhookEvent",
    "decode",
    "encode",
    "error_frame",
]
