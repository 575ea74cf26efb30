"""Two identical chat-message models; only :class:`PushedMessage` is registered with pushbridge.

The registration is the README's example: one channel per room, the creation pushed as
``show-message`` with a few fields (about 150 bytes of JSON), the way a chat app would use it.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from pushbridge.broadcast import broadcasts


class Message(models.Model):
    room_id = models.IntegerField()
    author = models.CharField(max_length=50)
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.author} in room {self.room_id}: {self.text[:20]}"


class PlainMessage(Message):
    """Not registered: the baseline save."""


@broadcasts("room-{room_id}", events={"created": "show-message"}, payload=["id", "author", "text", "created"])
class PushedMessage(Message):
    """Registered for auto-push: every committed creation becomes an event on ``room-<room_id>``."""
