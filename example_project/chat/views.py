"""Room pages, joining, and the view that receives a message from the page's post()."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

import pushbridge
from chat.forms import MessageForm
from chat.models import Message, Room
from notifications.models import notify

#: How much history a room page renders; older messages are a scroll-back feature it lacks.
HISTORY = 50


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    rooms = Room.objects.prefetch_related("members")
    joined = set(request.user.rooms.values_list("pk", flat=True))
    return render(request, "chat/room_list.html", {"rooms": rooms, "joined": joined, "section": "rooms"})


@login_required
def room_detail(request: HttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id)
    if not room.members.filter(pk=request.user.pk).exists():
        return render(request, "chat/join.html", {"room": room, "section": "rooms"})
    history = list(room.messages.select_related("author").order_by("-created", "-id")[:HISTORY])
    context = {
        "room": room,
        "history": reversed(history),
        "room_data": {"channel": room.channel_name, "me": request.user.get_username()},
        "section": "rooms",
    }
    return render(request, "chat/room.html", context)


@login_required
@require_POST
def join(request: HttpRequest, room_id: int) -> HttpResponse:
    room = get_object_or_404(Room, pk=room_id)
    room.members.add(request.user)
    return redirect(room)


@pushbridge.message_view(MessageForm)
def send_message(request: HttpRequest, data: dict[str, Any], room_id: int) -> Any:
    """Save the message; pushbridge pushes it to the room after the commit (see models.py)."""
    room = get_object_or_404(Room, pk=room_id)
    if not room.members.filter(pk=request.user.pk).exists():
        return JsonResponse({"error": "Join the room before writing in it."}, status=403)
    with transaction.atomic():
        message = Message.objects.create(room=room, author=request.user, text=data["text"])
        others = room.members.exclude(pk=request.user.pk)
        notify(others, f"{request.user.get_username()} in {room.name}: {message.text[:80]}", room.get_absolute_url())
    # The reply is what the sender's own tab renders at once.
    return message.as_json()
