"""Transactions. Approving one (on the dashboard or in the admin) updates every open dashboard."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

import pushbridge
from ledger.weekly import weekly_income


def income_payload(transaction: Transaction, operation: str) -> dict[str, Any]:
    """The changed transaction and the new weekly totals, so each page just redraws."""
    return {"operation": operation, "transaction": transaction.as_json(), "weeks": weekly_income()}


# Any change to a transaction, from any code path (the dashboard's button, the admin, a shell),
# reaches the dashboards after its commit. Every tab gets it, the approver's too: it redraws
# the same way as everyone else's.
@pushbridge.broadcasts(
    "private-dashboard",
    events={"created": "income-changed", "updated": "income-changed", "deleted": "income-changed"},
    payload=income_payload,
)
class Transaction(models.Model):
    description = models.CharField(max_length=120)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    occurred_on = models.DateField(default=timezone.localdate)
    approved = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-occurred_on", "-id"]

    def __str__(self) -> str:
        return f"{self.description} ({self.amount})"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "description": self.description,
            "amount": self.amount,
            "occurred_on": self.occurred_on,
            "approved": self.approved,
        }

    def approve(self, user: Any) -> None:
        self.approved = True
        self.approved_by = user
        self.save(update_fields=["approved", "approved_by"])
