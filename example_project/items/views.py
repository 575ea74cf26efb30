"""Items and comments: plain form posts. The live part is the notification each comment makes."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from items.forms import CommentForm
from items.models import Comment, Item
from notifications.models import notify


@login_required
def item_list(request: HttpRequest) -> HttpResponse:
    items = Item.objects.select_related("owner").prefetch_related("watchers")
    return render(request, "items/item_list.html", {"items": items, "section": "items"})


@login_required
def item_detail(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(Item.objects.select_related("owner"), pk=item_id)
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        add_comment(item, request.user, form.cleaned_data["text"])
        return redirect(item)
    context = {
        "item": item,
        "form": form,
        "comments": item.comments.select_related("author"),
        "watching": item.watchers.filter(pk=request.user.pk).exists(),
        "section": "items",
    }
    return render(request, "items/item_detail.html", context)


def add_comment(item: Item, author: object, text: str) -> Comment:
    """Save a comment and notify the item's owner and watchers, never the author."""
    with transaction.atomic():
        comment = Comment.objects.create(item=item, author=author, text=text)
        owner = [item.owner] if item.owner != author else []
        watchers = item.watchers.exclude(pk=getattr(author, "pk", None)).exclude(pk=item.owner_id)
        name = comment.author.get_username()
        notify(owner, f"{name} commented on your item {item.title}: {text[:60]}", item.get_absolute_url())
        notify(watchers, f"{name} commented on {item.title}, which you watch: {text[:60]}", item.get_absolute_url())
    return comment


@login_required
@require_POST
def toggle_watch(request: HttpRequest, item_id: int) -> HttpResponse:
    item = get_object_or_404(Item, pk=item_id)
    if item.watchers.filter(pk=request.user.pk).exists():
        item.watchers.remove(request.user)
    else:
        item.watchers.add(request.user)
    return redirect(item)
