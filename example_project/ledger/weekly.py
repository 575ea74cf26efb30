"""Weekly income: the numbers behind the dashboard chart, computed in one place.

The page draws whatever this returns, on load and on every push, so the browser never has to
redo the bookkeeping.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils import timezone

WEEKS = 8


def week_start(day: datetime.date) -> datetime.date:
    """The Monday of ``day``'s week."""
    return day - datetime.timedelta(days=day.weekday())


def weekly_income(weeks: int = WEEKS, today: datetime.date | None = None) -> list[dict[str, Any]]:
    """Approved income per week for the last ``weeks`` weeks, oldest first."""
    from ledger.models import Transaction

    current = week_start(today or timezone.localdate())
    starts = [current - datetime.timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    totals = dict.fromkeys(starts, Decimal("0.00"))
    rows = (
        Transaction.objects.filter(approved=True, occurred_on__gte=starts[0])
        .values_list("occurred_on")
        .annotate(total=Sum("amount"))
    )
    for day, total in rows:
        start = week_start(day)
        if start in totals:
            totals[start] += total
    return [{"week": start, "label": start.strftime("%d %b"), "total": totals[start]} for start in starts]
