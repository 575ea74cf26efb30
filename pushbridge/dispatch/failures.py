"""Events that will not be delivered: logged, and announced by ``dispatch_failed``.

One owner, so that every mode reports a loss the same way: never silently, never by raising
into code whose data is already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pushbridge.events import Event

logger = logging.getLogger("pushbridge.dispatch")


def announce(alias: str, events: Sequence[Event], error: BaseException | str, *, dropped: bool = False) -> None:
    """Log the loss of ``events`` and send :data:`pushbridge.signals.dispatch_failed`."""
    from pushbridge.signals import dispatch_failed

    verb = "dropped" if dropped else "gave up on"
    logger.error("pushbridge %r %s %d event(s): %s", alias, verb, len(events), error)
    try:
        dispatch_failed.send_robust(sender=alias, events=list(events), error=error, dropped=dropped)
    except Exception:  # pragma: no cover - send_robust already isolates receivers
        logger.exception("pushbridge dispatch_failed receivers raised")
