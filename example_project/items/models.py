"""Items with an owner and watchers; a comment notifies both (see views.add_comment), and shows
at once on every open page of its item (auto-push to ``private-item.{id}``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

import pushbridge


class Item(models.Model):
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="items")
    watchers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="watched_items", blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("items:detail", args=[self.pk])


def comment_payload(comment: Comment, operation: str) -> dict[str, Any]:
    return {"id": comment.pk, "author": comment.author.get_username(), "text": comment.text, "created": comment.created}


# Whoever has the item's page open (its owner above all) sees a new comment as it is saved.
@pushbridge.broadcasts("private-item.{item_id}", events={"created": "comment"}, payload=comment_payload)
class Comment(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    text = models.CharField(max_length=500)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.author} on {self.item}: {self.text[:40]}"
