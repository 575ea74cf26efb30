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

Because such a test is one transaction, auto-push coalesces a row created in the set-up and
updated by the code under test into one "created" event. ``capture()`` draws the line a commit
would draw, and asserts only what its block pushed::

    order = Order.objects.create(number=7)            # pushed (as created) before the block
    with pushbridge_outbox.capture() as pushed:
        client.post(f"/orders/{order.pk}/ship/")
    pushed.assert_triggered(event="order.updated")    # only what the block pushed

When an expected event is missing because it was coalesced into another, the failure says so.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest.mock import ANY

import pushbridge
from pushbridge.auth import Decision, authorize
from pushbridge.backends.memory import OutboxEvent
from pushbridge.signals import events_coalesced

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


@dataclass(frozen=True)
class Coalesced:
    """Several saves of one row in one transaction that auto-push announced once (or not at all)."""

    model: str
    pk: Any
    operations: list[str]
    would_have_sent: list[str | None]
    sent: str | None
    channels: list[str]

    def explains(self, channel: Any, event: Any) -> bool:
        """Whether this is why ``event`` on ``channel`` is missing: it was merged into another."""
        on_channel = channel is ANY or channel in self.channels
        return on_channel and event is not ANY and event != self.sent and event in self.would_have_sent

    def describe(self) -> str:
        saves = " then ".join(self.operations)
        outcome = f"one {self.sent!r} event" if self.sent else "no event at all"
        return (
            f"{self.model} pk={self.pk!r} was {saves} in one transaction, which auto-push announces as "
            f"{outcome} (on {', '.join(self.channels)})"
        )


#: What auto-push coalesced since memory_backends() started, in order.
coalesced: list[Coalesced] = []


def _record_coalesced(sender: Any, **kwargs: Any) -> None:
    coalesced.append(
        Coalesced(
            getattr(getattr(sender, "_meta", None), "label", str(sender)),
            kwargs["pk"],
            list(kwargs["operations"]),
            list(kwargs["would_have_sent"]),
            kwargs["sent"],
            list(kwargs["channels"]),
        )
    )


@contextmanager
def memory_backends() -> Iterator[None]:
    """Inside the block, every alias is a synchronous memory backend and the outbox starts empty."""
    from django.test import override_settings

    with override_settings(PUSHBRIDGE=_memory_settings()):
        pushbridge.outbox.clear()
        coalesced.clear()
        events_coalesced.connect(_record_coalesced, dispatch_uid="pushbridge.testing.coalesced")
        try:
            yield
        finally:
            events_coalesced.disconnect(dispatch_uid="pushbridge.testing.coalesced")


class PushRecorder:
    """What a test pushed, read from ``pushbridge.outbox`` after running pending on_commit callbacks.

    The fixture's recorder sees everything since the test started; one made by :meth:`capture`
    sees only what its block pushed.
    """

    def __init__(self, databases: tuple[str, ...] | None = None) -> None:
        from django.db import connections

        self._databases = databases if databases is not None else tuple(connections)
        self._start = {alias: len(connections[alias].run_on_commit) for alias in self._databases}
        # The window of pushbridge.outbox (and of the coalescing notes) this recorder reads.
        self._first, self._first_note = 0, 0
        self._last: int | None = None
        self._last_note: int | None = None

    @contextmanager
    def capture(self) -> Iterator[PushRecorder]:
        """Yield a recorder of only what the block pushes.

        Pending callbacks are run first, as if what came before had committed: a row created
        before the block and updated in it is announced as created and then as updated,
        as in production where the two would be separate requests.
        """
        self.run_on_commit()
        window = PushRecorder(self._databases)
        window._first, window._first_note = len(pushbridge.outbox), len(coalesced)
        try:
            yield window
        finally:
            window.run_on_commit()
            window._last, window._last_note = len(pushbridge.outbox), len(coalesced)

    def _window(self) -> list[OutboxEvent]:
        first = self._first if self._first <= len(pushbridge.outbox) else 0  # cleared meanwhile
        return list(pushbridge.outbox)[first : self._last]

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
        return self._window()

    def clear(self) -> None:
        """Forget what was pushed so far (pending callbacks are run first)."""
        self.run_on_commit()
        pushbridge.outbox.clear()
        coalesced.clear()
        self._first = self._first_note = 0

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
            message = f"Expected {wanted} to be pushed {times}, found {len(found)}."
            raise AssertionError(f"{message}{self._coalescing(channel, event)}\n{self._report()}")
        return found

    def assert_not_triggered(
        self, channel: Any = ANY, event: Any = ANY, *, data: Any = ANY, socket_id: Any = ANY
    ) -> None:
        """Fail if a matching event was pushed."""
        found = self.filter(channel, event, data, socket_id)
        if found:
            wanted = _describe(channel, event, data, socket_id)
            raise AssertionError(f"Expected no {wanted}, found {len(found)}.\n{self._report()}")

    def _coalescing(self, channel: Any, event: Any) -> str:
        """Why an expected auto-push event may be missing: it was merged into another."""
        notes = [note for note in coalesced[self._first_note : self._last_note] if note.explains(channel, event)]
        if not notes:
            return ""
        lines = "\n".join(f"  {note.describe()}" for note in notes)
        return (
            f"\n{event!r} was coalesced into another event:\n{lines}\n"
            "A test runs in one transaction: create the row before "
            "`with pushbridge_outbox.capture() as pushed:` and assert on `pushed`, "
            "or call pushbridge_outbox.clear() after creating it."
        )

    def _report(self) -> str:
        sent = self._window()
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
