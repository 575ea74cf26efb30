"""Fixtures shared by the whole suite."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

import pushbridge
from pushbridge.backends import reset_backends
from tests.http_service import _api_server_process, api_server  # noqa: F401 (fixtures for every test)
from tests.services.fixtures import (  # noqa: F401 (fixtures for every test)
    django_db_modify_db_settings,
    nginx_factory,
    postgres_server,
    redis_factory,
    redis_server,
)


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    """Every test starts with an empty outbox and backends built from current settings."""
    reset_backends()
    pushbridge.outbox.clear()
    yield
    if "pushbridge.relay" in sys.modules:  # relay threads a durable test started: their own
        sys.modules["pushbridge.relay"].stop_in_process()  # connections, and their own settings
    reset_backends()
