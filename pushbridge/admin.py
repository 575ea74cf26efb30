"""The admin page of durable events: what is still pending, and what failed (and why).

Sent rows (kept only for the history window) are left out: the page is for what needs an eye.
"Send again" puts failed events back in the relay's queue, after the cause was fixed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from pushbridge.models import StoredEvent

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[StoredEvent]
else:
    ModelAdmin = admin.ModelAdmin  # generic only in the type stubs


@admin.register(StoredEvent)
class StoredEventAdmin(ModelAdmin):
    list_display = ("id", "status", "name", "channels", "position", "attempts", "created_at", "error")
    list_filter = ("status", "alias")
    search_fields = ("uid", "channel", "name")
    ordering = ("id",)
    actions = ("send_again",)
    readonly_fields = tuple(field.name for field in StoredEvent._meta.fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[StoredEvent]:
        return StoredEvent.objects.filter(status__in=(StoredEvent.PENDING, StoredEvent.FAILED))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # events come from trigger(), not from a form

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Send again (failed events go back to the relay's queue)")
    def send_again(self, request: HttpRequest, queryset: QuerySet[StoredEvent]) -> None:
        count = queryset.filter(status=StoredEvent.FAILED).update(
            status=StoredEvent.PENDING, attempts=0, next_attempt_at=None
        )
        self.message_user(request, f"{count} event(s) queued again.")
