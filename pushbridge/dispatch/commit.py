"""Sends made inside a transaction wait for its commit (sync and background modes).

A ``trigger()`` inside ``atomic()`` that then rolls back must not have announced anything; so,
unless the caller passes ``on_commit=False``, the send is handed to ``transaction.on_commit``
of the default database, exactly as model auto-push does. Outside a transaction (autocommit)
the commit has already happened, and events leave at once. In a plain script without Django
settings there is no database, and events leave at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pushbridge.errors import PushbridgeError
from pushbridge.events import Event

logger = logging.getLogger("pushbridge.dispatch")


def open_transaction(on_commit: bool | None = None) -> str | None:
    """The database alias whose open transaction a send should wait for; None: send now."""
    if on_commit is False:
        return None
    from django.conf import settings

    if not settings.configured:
        return None
    from django.db import DEFAULT_DB_ALIAS, transaction

    if not getattr(settings, "DATABASES", None):
        return None
    if not transaction.get_connection(DEFAULT_DB_ALIAS).in_atomic_block:
        return None
    return DEFAULT_DB_ALIAS


def after_commit(database: str, send: Callable[[], object], *, alias: str, events: list[Event]) -> None:
    """Run ``send`` once ``database``'s transaction commits; a failure then is announced, not raised.

    Raising after the commit would turn a request whose data is saved into an error page.
    """
    from django.db import transaction

    def send_after_commit() -> None:
        try:
            send()
        except PushbridgeError as exc:
            from pushbridge.dispatch import failures

            failures.announce(alias, events, exc)

    transaction.on_commit(send_after_commit, using=database, robust=True)
