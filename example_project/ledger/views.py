"""The live dashboard and the approve button's view."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

import pushbridge
from ledger.models import Transaction
from ledger.weekly import weekly_income


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        "weeks": weekly_income(),
        "pending": Transaction.objects.filter(approved=False),
        "can_approve": request.user.is_staff,
        "section": "dashboard",
        # For rows the page adds itself, when a pending transaction is pushed.
        "page_data": {"canApprove": request.user.is_staff, "approveUrl": reverse("ledger:approve", args=[0])},
    }
    return render(request, "ledger/dashboard.html", context)


@pushbridge.message_view()
def approve(request: HttpRequest, data: Any, transaction_id: int) -> Any:
    """Approve one transaction; the model's auto-push tells every dashboard, this one included."""
    if not request.user.is_staff:
        return JsonResponse({"error": "Only staff may approve transactions."}, status=403)
    transaction = get_object_or_404(Transaction, pk=transaction_id)
    if not transaction.approved:
        transaction.approve(request.user)
    return transaction.as_json()
