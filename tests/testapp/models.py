"""Models for pushbridge's own tests: a chat room, its messages, and a model we "do not own"."""

from __future__ import annotations

from django.conf import settings
from django.db import models

import pushbridge


class Room(models.Model):
    name = models.CharField(max_length=100)


@pushbridge.broadcasts(
    "room-{room_id}",
    events={"created": "show-message", "updated": "edit-message", "deleted": "remove-message"},
    payload=["id", "text", "author.username"],
    when=lambda message, operation: not message.hidden,
    to_others=True,
)
class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.CharField(max_length=20000)
    hidden = models.BooleanField(default=False)


class Invoice(models.Model):
    """Registered from outside, by convention, in the tests (as with a third-party model)."""

    number = models.CharField(max_length=20)
    total = models.DecimalField(max_digits=8, decimal_places=2)
    issued = models.DateTimeField()
    attachment = models.FileField(blank=True)


class Unregistered(models.Model):
    """The same shape as a registered model, for measuring what registration costs."""

    text = models.CharField(max_length=100)


class Place(models.Model):
    """Registered by the tests that need it, after its subclass and proxy exist."""

    name = models.CharField(max_length=100)


class Restaurant(Place):
    """A multi-table child: saving one writes a Place row too, deleting one deletes both."""

    stars = models.IntegerField(default=0)


class PlaceProxy(Place):
    class Meta:
        proxy = True
