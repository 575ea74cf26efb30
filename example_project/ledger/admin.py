"""Approving in the admin (the checkbox or the action) pushes exactly like the dashboard button."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ledger.models import Transaction


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ["description", "amount", "occurred_on", "approved"]
    list_filter = ["approved"]
    fields = ["description", "amount", "occurred_on", "approved"]
    actions = ["approve_selected"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if obj.approved and obj.approved_by_id is None:
            obj.approved_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Approve selected transactions")
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Transaction]) -> None:
        # One save per row, not queryset.update(): update() sends no signals, so nothing would be
        # pushed. All saves share the admin's transaction; each row is pushed once, at commit.
        for transaction in queryset.filter(approved=False):
            transaction.approve(request.user)
