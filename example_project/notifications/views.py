from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import pushbridge


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/list.html", {"notifications": request.user.notifications.all()[:50]})


@pushbridge.message_view()
def mark_read(request: HttpRequest, data: Any, notification_id: int) -> dict[str, Any]:
    """One notification read: the page in view showed it (a message in the open room)."""
    updated = request.user.notifications.filter(pk=notification_id, read=False).update(read=True)
    return {"read": bool(updated), "unread": request.user.notifications.filter(read=False).count()}


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    request.user.notifications.filter(read=False).update(read=True)
    return redirect("notifications:list")
