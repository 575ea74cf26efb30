"""Two async views: one that triggers (and may be held by a slow service), one that answers at once."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

import pushbridge


async def publish(request: HttpRequest) -> JsonResponse:
    reply = await pushbridge.atrigger("news", "headline", {"text": request.GET.get("text", "")})
    return JsonResponse({"reply": reply})


async def ping(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pong": True})


urlpatterns = [path("publish/", publish), path("ping/", ping)]
