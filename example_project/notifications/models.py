"""Per-user notifications, stored (so a page load shows them) and pushed as they are made."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

import pushbridge


def notification_payload(notification: Notification, operation: str) -> dict[str, Any]:
    return notification.as_json()


# Each user listens on their own private channel; channels.py lets only that user subscribe.
@pushbridge.broadcasts("private-user.{user_id}", events={"created": "notification"}, payload=notification_payload)
class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    text = models.CharField(max_length=200)
    url = models.CharField(max_length=200, blank=True)
    read = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"to {self.user}: {self.text}"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.pk, "text": self.text, "url": self.url, "created": self.created}


def notify(users: Any, text: str, url: str = "") -> list[Notification]:
    """Notify each of ``users``: one row, and so one event on each user's private channel.

    Rows are created one by one on purpose: ``bulk_create`` sends no ``post_save`` signal, so
    auto-push would not see them.
    """
    return [Notification.objects.create(user=user, text=text[:200], url=url) for user in users]
