"""The pytest plugin, registered by pushbridge's ``pytest11`` entry point.

Kept apart from :mod:`pushbridge.testing` so that Django ``TestCase`` users, who may not have
pytest installed, can import the test kit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pushbridge.defaults import DEFAULT_HOST
from pushbridge.testing import PushRecorder, memory_backends


@pytest.fixture
def pushbridge_outbox() -> Iterator[PushRecorder]:
    """Memory backends for the test; yields a :class:`PushRecorder` to assert on."""
    with memory_backends():
        yield PushRecorder()


@pytest.fixture
def pushbridge_live_server() -> Iterator[Any]:
    """A real embedded Pusher-protocol server on a free port, with the ``default`` alias sending to it.

    For end-to-end tests with real clients (pysher, pusher-js, a browser). Needs the server
    extra (``pip install "pushbridge[server]"``). Yields the running ``EmbeddedServer``;
    ``.port`` and ``.app.key`` tell clients where to connect.
    """
    from django.test import override_settings

    from pushbridge.server import EmbeddedServer

    server = EmbeddedServer(port=0)
    server.start_in_thread()
    app = server.app
    entry = {"BACKEND": "embedded", "HOST": DEFAULT_HOST, "PORT": server.port, "APP_ID": app.app_id,
             "KEY": app.key, "SECRET": app.secret}  # fmt: skip
    try:
        with override_settings(PUSHBRIDGE={"default": entry}):
            yield server
    finally:
        server.stop()
