"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import pushbridge
from pushbridge.backends import reset_backends


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    """Every test starts with an empty outbox and backends built from current settings."""
    reset_backends()
    pushbridge.outbox.clear()
    yield
    reset_backends()
