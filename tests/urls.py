"""URLs for pushbridge's own tests: its endpoints plus a message view."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.urls import include, path

import pushbridge
from tests.testapp.models import Message


class MessageForm(forms.Form):
    text = forms.CharField(max_length=500)
    room = forms.IntegerField(min_value=1)


@pushbridge.message_view(MessageForm)
def send_message(request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
    message = Message.objects.create(room_id=data["room"], author=request.user, text=data["text"])
    return {"id": message.pk, "socket_id": request.pushbridge_socket_id}  # type: ignore[attr-defined]


@pushbridge.message_view(login_required=False)
def echo(request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
    pushbridge.trigger("echo", "echoed", data, to_others=True)
    return {"data": data, "socket_id": request.pushbridge_socket_id}  # type: ignore[attr-defined]


urlpatterns = [
    path("pushbridge/", include("pushbridge.urls")),
    path("messages/", send_message, name="send-message"),
    path("echo/", echo, name="echo"),
]
