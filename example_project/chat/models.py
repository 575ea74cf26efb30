"""Chat rooms and their messages. A new message is pushed to its room by itself."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

import pushbridge


class Room(models.Model):
    name = models.CharField(max_length=80, unique=True)
    #: Who may join the room's presence channel (see channels.py) and is notified of messages.
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="rooms", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("chat:room", args=[self.pk])

    @property
    def channel_name(self) -> str:
        return f"presence-room-{self.pk}"


def message_payload(message: Message, operation: str) -> dict[str, Any]:
    return message.as_json()


# Saved -> committed -> pushed as "show-message" to everyone in the room but the sender's own
# tab (to_others: the X-Socket-ID header of the request that saved it), which renders the
# message from the POST reply instead.
@pushbridge.broadcasts(
    "presence-room-{room_id}", events={"created": "show-message"}, payload=message_payload, to_others=True
)
class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    text = models.CharField(max_length=500)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.author} in {self.room}: {self.text[:40]}"

    def as_json(self) -> dict[str, Any]:
        """What the page's renderMessage() needs, for the push and for the POST reply alike."""
        return {
            "id": self.pk,
            "text": self.text,
            "author": self.author.get_username(),
            "author_id": self.author_id,
            "created": self.created,
        }
