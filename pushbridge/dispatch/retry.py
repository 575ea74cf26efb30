"""The one place that decides whether, when and how often a failed send is tried again.

Backends send once and say, through :attr:`BackendError.retryable` and
:attr:`BackendError.retry_after`, whether a second try may succeed without delivering twice.
Every dispatch mode asks this module what to do next, so that retries never nest (a backend
retrying inside a sender's retries multiplied the attempts) and the numbers live in one table:

=============  ======================  ===========  =============
mode           retries after the first  first wait   longest wait
=============  ======================  ===========  =============
sync           ``RETRIES`` (2)          0.1 s        2 s
background     ``RETRIES`` (5)          0.5 s        30 s
durable        ``RETRIES`` (20)         0.5 s        60 s
=============  ======================  ===========  =============

Waits are "full jitter" exponential backoff (a random time between zero and ``first wait *
2**attempt``, capped), which spreads the retries of many processes after an outage. A
``Retry-After`` header (429, 503) replaces the computed wait, capped at the longest wait: a sync
caller is a request someone waits on. The alias's ``RETRIES`` overrides the count of every mode,
``OPTIONS["retry_backoff"]`` and ``OPTIONS["retry_backoff_max"]`` the two waits.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pushbridge.conf import BackendConfig
from pushbridge.defaults import DEFAULT_RETRY_POLICIES
from pushbridge.errors import BackendError

logger = logging.getLogger("pushbridge.dispatch")

T = TypeVar("T")

SYNC, BACKGROUND, DURABLE = "sync", "background", "durable"


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, and after how long, a retryable failure is tried again."""

    retries: int
    backoff: float
    backoff_max: float

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.backoff_max)
        return random.uniform(0, min(self.backoff_max, self.backoff * 2**attempt))

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether ``error`` after ``attempt`` retries deserves another try."""
        return isinstance(error, BackendError) and error.retryable and attempt < self.retries


#: mode -> (retries, first wait, longest wait) when the alias does not say otherwise.
DEFAULTS: dict[str, tuple[int, float, float]] = DEFAULT_RETRY_POLICIES


def policy_for(config: BackendConfig, mode: str | None = None) -> RetryPolicy:
    """The policy of ``config``'s alias for ``mode`` (its own dispatch mode by default)."""
    retries, backoff, backoff_max = DEFAULTS[mode or config.dispatch]
    if config.retries is not None:
        retries = config.retries
    return RetryPolicy(
        retries=retries,
        backoff=float(config.options.get("retry_backoff", backoff)),
        backoff_max=float(config.options.get("retry_backoff_max", backoff_max)),
    )


def call(
    send: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    stopping: threading.Event | None = None,
    sleep: Callable[[float], object] | None = None,
) -> T:
    """Call ``send`` until it succeeds, fails for good, or the policy's retries run out.

    The last error is raised. ``stopping`` (a process shutting down) ends the retries at once:
    whatever is still failing then is reported rather than waited for.
    """
    attempt = 0
    while True:
        try:
            return send()
        except BackendError as exc:
            if not policy.should_retry(exc, attempt) or (stopping is not None and stopping.is_set()):
                raise
            delay = policy.delay(attempt, exc.retry_after)
            logger.warning("pushbridge %s failed (%s); retry %d in %.2f s", what, exc, attempt + 1, delay)
            if stopping is not None:
                if stopping.wait(delay):
                    raise
            else:
                (sleep or time.sleep)(delay)
            attempt += 1
