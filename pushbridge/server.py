"""The embedded Pusher-protocol server's public face: :class:`EmbeddedServer` and :func:`main`.

One port serves the WebSocket endpoint ``/app/{key}`` (pusher-js, pysher...) and the HTTP API
``/apps/{app_id}/...`` (the official SDKs, pushbridge's own backends), like Soketi. The server
itself lives in :mod:`pushbridge.engine`, one concern a module: a sans-I/O protocol core under
a thin aiohttp shell.

Run it with ``python -m pushbridge.server`` (see :func:`main`), ``manage.py pushbridge_server``,
or from Python with :class:`EmbeddedServer` (in a thread or inside a running event loop).
"""

from __future__ import annotations

import sys

from pushbridge.defaults import DEFAULT_APP_ID, DEFAULT_HOST, DEFAULT_KEY, DEFAULT_PORT, DEFAULT_SECRET
from pushbridge.engine.cli import announce, build_parser, main, run_until_signalled, server_from_args
from pushbridge.engine.embedded import EmbeddedServer
from pushbridge.engine.options import (
    FRAME_ENVELOPE_BYTES,
    HARD_FRAME_FACTOR,
    HARD_FRAME_MARGIN,
    ServerOptions,
    hard_frame_limit,
    min_frame_bytes,
)
from pushbridge.engine.settings import ENV_VARS
from pushbridge.engine.wire import websocket_pong_frame, websocket_text_frame

__all__ = [
    "DEFAULT_APP_ID",
    "DEFAULT_HOST",
    "DEFAULT_KEY",
    "DEFAULT_PORT",
    "DEFAULT_SECRET",
    "ENV_VARS",
    "FRAME_ENVELOPE_BYTES",
    "HARD_FRAME_FACTOR",
    "HARD_FRAME_MARGIN",
    "EmbeddedServer",
    "ServerOptions",
    "announce",
    "build_parser",
    "hard_frame_limit",
    "main",
    "min_frame_bytes",
    "run_until_signalled",
    "server_from_args",
    "websocket_pong_frame",
    "websocket_text_frame",
]

if __name__ == "__main__":
    sys.exit(main())
