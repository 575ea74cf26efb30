"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import pushbridge
from pushbridge.backends import reset_backends
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
    reset_backends()
