"""Test kit: assert what your code pushed, with pytest or Django's TestCase.

pytest (the plugin, ``pushbridge.pytest_plugin``, is registered by pushbridge's entry point:
nothing to configure)::

    def test_new_message_is_pushed(client, pushbridge_outbox):
        client.post("/rooms/1/messages/", {"text": "hi"})
        pushbridge_outbox.assert_triggered("room-1", "show-message", data={"text": "hi"})

Django's TestCase::

    class MessageTests(PushbridgeTestMixin, TestCase):
        def test_push(self):
            ...
            self.assertTriggered("room-1", "show-message")

Both switch every ``PUSHBRIDGE`` alias to the memory backend (keeping its key, secret and
payload limit, so auth replies and size errors are the real ones), dispatch synchronously, and
clear ``pushbridge.outbox``. Inside a test that runs in a transaction that never commits (a
TestCase, pytest-django's ``db``), the ``on_commit`` callbacks that model auto-push waits for are
run when you look: every assertion and ``.events`` first runs the callbacks registered so far,
as a commit would. A failed assertion lists what was pushed instead.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import ANY

import pushbridge
from pushbridge.auth import Decision, authorize
from pushbridge.backends.memory import OutboxEvent

logger = logging.getLogger("pushbridge.testing")

__all__ = [
    "ANY",
    "PushRecorder",
    "PushbridgeTestMixin",
    "assert_channel_allowed",
    "assert_channel_denied",
    "memory_backends",
]


def _memory_settings() -> dict[str, dict[str, Any]]:
    """Every configured alias as a memory backend with the same credentials and payload limit."""
    from pushbridge.backends import get_backend
    from pushbridge.conf import raw_settings
    from pushbridge.errors import ConfigurationError

    try:
        aliases, _ = raw_settings()
    except ConfigurationError:
        aliases = {"default": {}}
    replaced: dict[str, dict[str, Any]] = {}
    for alias in aliases:
        entry: dict[str, Any] = {"BACKEND": "memory"}
        try:
            backend = get_backend(alias)
        except ConfigurationError:
            replaced[alias] = entry
            continue
        config = backend.config
        entry.update({"APP_ID": config.app_id, "KEY": config.key, "SECRET": config.secret})
        entry["MAX_PAYLOAD_BYTES"] = backend.limits.max_payload_bytes
        if config.encryption_master_key is not None:
            entry["ENCRYPTION_MASTER_KEY"] = base64.b64encode(config.encryption_master_key).decode()
        replaced[alias] = entry
    return replaced


@contextmanager
def memory_backends() -> Iterator[None]:
    """Inside the block, every alias is a synchronous memory backend and the outbox starts empty."""
    from django.test import override_settings

    with override_settings(PUSHBRIDGE=_memory_settings()):
        pushbridge.outbox.clear()
        yield


class PushRecorder:
    """What a test pushed, read from ``pushbridge.outbox`` after running pending on_commit callbacks."""

    def __init__(self, databases: tuple[str, ...] | None = None) -> None:
        from django.db import connections

        self._databases = databases if databases is not None else tuple(connections)
        self._start = {alias: len(connections[alias].run_on_commit) for alias in self._databases}

    def run_on_commit(self) -> None:
        """Run the on_commit callbacks registered since the recorder started, as a commit would."""
        from django.db import connections

        for alias in self._databases:
            connection = connections[alias]
            start = self._start[alias]
            while len(connection.run_on_commit) > start:
                # Take them off the list first, so that a real commit later cannot run them twice.
                pending = connection.run_on_commit[start:]
                del connection.run_on_commit[start:]
                for entry in pending:  # (savepoint ids, callback, robust), as Django stores them
                    callback, robust = entry[1], entry[2] if len(entry) > 2 else False
                    if not robust:
                        callback()
                        continue
                    try:  # a robust callback's failure is logged, as at a real commit
                        callback()
                    except Exception:
                        logger.exception("on_commit callback %r failed", callback)

    @property
    def events(self) -> list[OutboxEvent]:
        """Everything pushed so far, one record per channel."""
        self.run_on_commit()
        return list(pushbridge.outbox)

    def clear(self) -> None:
        """Forget what was pushed so far (pending callbacks are run first)."""
        self.run_on_commit()
        pushbridge.outbox.clear()

    def filter(self, channel: Any = ANY, event: Any = ANY, data: Any = ANY, socket_id: Any = ANY) -> list[OutboxEvent]:
        """The pushed events matching every given field (``ANY`` matches anything)."""
        return [
            sent
            for sent in self.events
            if channel == sent.channel and event == sent.event and data == sent.data and socket_id == sent.socket_id
        ]

    def assert_triggered(
        self,
        channel: Any = ANY,
        event: Any = ANY,
        *,
        data: Any = ANY,
        socket_id: Any = ANY,
        count: int | None = None,
    ) -> list[OutboxEvent]:
        """Fail unless a matching event was pushed (exactly ``count`` times, if given)."""
        found = self.filter(channel, event, data, socket_id)
        if (count is None and not found) or (count is not None and len(found) != count):
            times = "at least once" if count is None else f"{count} time(s)"
            wanted = _describe(channel, event, data, socket_id)
            raise AssertionError(f"Expected {wanted} to be pushed {times}, found {len(found)}.\n{self._report()}")
        return found

    def assert_not_triggered(
        self, channel: Any = ANY, event: Any = ANY, *, data: Any = ANY, socket_id: Any = ANY
    ) -> None:
        """Fail if a matching event was pushed."""
        found = self.filter(channel, event, data, socket_id)
        if found:
            wanted = _describe(channel, event, data, socket_id)
            raise AssertionError(f"Expected no {wanted}, found {len(found)}.\n{self._report()}")

    def _report(self) -> str:
        sent = list(pushbridge.outbox)
        if not sent:
            return "Nothing was pushed."
        lines = [f"  {e.channel} {e.event} {e.data!r}" + (f" socket_id={e.socket_id}" if e.socket_id else "")
                 for e in sent]  # fmt: skip
        return "Pushed instead:\n" + "\n".join(lines)


def _describe(channel: Any, event: Any, data: Any, socket_id: Any) -> str:
    parts = [f"event {event!r}" if event is not ANY else "an event"]
    if channel is not ANY:
        parts.append(f"on {channel!r}")
    if data is not ANY:
        parts.append(f"with data {data!r}")
    if socket_id is not ANY:
        parts.append(f"excluding socket {socket_id!r}")
    return " ".join(parts)


# -- authorization callbacks ----------------------------------------------------------------------


def assert_channel_allowed(user: Any, channel: str) -> Decision:
    """Fail unless the registered callbacks let ``user`` subscribe to ``channel``; return the decision."""
    decision = authorize(user, channel)
    if not decision.allowed:
        raise AssertionError(f"Expected {user!r} to be allowed on {channel!r}: {decision.reason}")
    return decision


def assert_channel_denied(user: Any, channel: str) -> Decision:
    """Fail if the registered callbacks let ``user`` subscribe to ``channel``."""
    decision = authorize(user, channel)
    if decision.allowed:
        raise AssertionError(f"Expected {user!r} to be refused on {channel!r}: {decision.reason}")
    return decision


# -- Django TestCase ------------------------------------------------------------------------------


class PushbridgeTestMixin:
    """Mix into a Django ``TestCase``: memory backends per test, ``assertTriggered`` and friends."""

    pushbridge_outbox: PushRecorder

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        context = memory_backends()
        context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)  # type: ignore[attr-defined]
        self.pushbridge_outbox = PushRecorder()

    def assertTriggered(self, channel: Any = ANY, event: Any = ANY, **kwargs: Any) -> list[OutboxEvent]:
        return self.pushbridge_outbox.assert_triggered(channel, event, **kwargs)

    def assertNotTriggered(self, channel: Any = ANY, event: Any = ANY, **kwargs: Any) -> None:
        self.pushbridge_outbox.assert_not_triggered(channel, event, **kwargs)
