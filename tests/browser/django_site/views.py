"""Pages and helper endpoints of the browser tests' Django site."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

import pushbridge
from pushbridge.auth import authorize
from tests.browser.django_site import faults, history
from tests.browser.django_site.models import ChaosNote

NODE_MODULES = settings.REPO / "tests" / "node" / "node_modules"
VENDOR = {
    "pusher.min.js": NODE_MODULES / "pusher-js" / "dist" / "web" / "pusher.min.js",
    "echo.iife.js": NODE_MODULES / "laravel-echo" / "dist" / "echo.iife.js",
}
CLIENTS = ("shim", "pusher-js", "echo")


def page(request: HttpRequest, client: str, template: str = "browser_site/page.html") -> HttpResponse:
    """A page for ``?user=NAME`` (logged in on the spot) with the given client's scripts."""
    if client not in CLIENTS:
        raise Http404(f"no client {client!r}")
    username = request.GET.get("user")
    if username:
        user, _ = get_user_model().objects.get_or_create(username=username)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    channel = request.GET.get("channel", "")
    context = {"client": client, "channel": channel, "position": history.latest(channel) if channel else None}
    return render(request, template, context)


def vendor(request: HttpRequest, name: str) -> FileResponse:
    path = VENDOR.get(name)
    if path is None or not path.exists():
        raise Http404(f"{name} is not installed (run: npm ci --prefix tests/node)")
    return FileResponse(path.open("rb"), content_type="text/javascript")


@csrf_exempt  # called by the tests, not by pages
@require_POST
def publish(request: HttpRequest) -> JsonResponse:
    """Record an event in the history and, unless ``"send": false``, trigger it enveloped."""
    body = json.loads(request.body)
    entry = history.record(body["channel"], body["event"], body.get("data"))
    if body.get("send", True):
        pushbridge.trigger(body["channel"], body["event"], history.envelope(entry))
    return JsonResponse(entry)


@csrf_exempt  # called by the tests, not by pages
@require_POST
def send(request: HttpRequest) -> JsonResponse:
    """Trigger an event recorded earlier (a relay sending late, or twice)."""
    body = json.loads(request.body)
    entry = history.get(body["channel"], body["id"])
    pushbridge.trigger(body["channel"], entry["event"], history.envelope(entry))
    return JsonResponse(entry)


@csrf_exempt  # called by the tests, not by pages
@require_POST
def history_delay(request: HttpRequest) -> JsonResponse:
    """Make the history view hold its (already read) reply this many seconds."""
    history.reply_delay = float(json.loads(request.body)["seconds"])
    return JsonResponse({"seconds": history.reply_delay})


@csrf_exempt  # called by the tests, not by pages
@require_POST
def set_faults(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    faults.fail_next(body["path"], int(body["count"]))
    return JsonResponse(body)


@require_GET
def history_view(request: HttpRequest) -> JsonResponse:
    channel, since = request.GET.get("channel", ""), request.GET.get("since", "")
    if not channel or not since.lstrip("-").isdigit():
        return JsonResponse({"error": "channel and an integer since are required."}, status=400)
    if not history.has_history(channel):
        return JsonResponse({"error": f"Channel {channel!r} has no history."}, status=404)
    if channel.startswith(("private-", "presence-")):
        decision = authorize(request.user, channel)
        if not decision.allowed:
            return JsonResponse({"error": decision.reason}, status=403)
    reply: dict[str, Any] = history.since(channel, int(since))
    time.sleep(history.reply_delay)
    return JsonResponse(reply)


class _RolledBack(Exception):
    """Raised inside atomic() to roll a transaction or savepoint back on purpose."""


def _write(channel: str, seq: int, step: int, kind: str) -> None:
    if kind == "model":
        ChaosNote.objects.create(channel=channel, seq=seq, step=step)
    else:
        pushbridge.trigger(channel, "note.triggered", {"seq": seq, "step": step})


@csrf_exempt  # called by the chaos test, not by pages
@require_POST
def chaos_step(request: HttpRequest) -> JsonResponse:
    """One transaction of the chaos test: model saves and trigger() calls, some of them in a
    savepoint that rolls back, the whole of it committed or rolled back as the plan says."""
    plan = json.loads(request.body)
    try:
        with transaction.atomic():
            for item in plan["items"]:
                if item["savepoint_rolls_back"]:
                    try:
                        with transaction.atomic():
                            _write(item["channel"], item["seq"], plan["step"], item["kind"])
                            raise _RolledBack
                    except _RolledBack:
                        pass
                else:
                    _write(item["channel"], item["seq"], plan["step"], item["kind"])
            if plan["rolls_back"]:
                raise _RolledBack
    except _RolledBack:
        return JsonResponse({"committed": False})
    return JsonResponse({"committed": True})
