"""The publish endpoint: a Django async view that ``group_send``\\s every event of a batch."""

from __future__ import annotations

import json

from channels.layers import get_channel_layer
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

_dumps = json.JSONEncoder(separators=(",", ":")).encode


@csrf_exempt
async def batch_events(request: HttpRequest, app_id: str) -> JsonResponse:
    """Signatures are not checked, as in the ceiling: one HMAC per 10 events is noise."""
    body = json.loads(request.body)
    layer = get_channel_layer()
    assert layer is not None
    for event in body["batch"]:
        text = _dumps({"event": event["name"], "channel": event["channel"], "data": event["data"]})
        await layer.group_send(event["channel"], {"type": "pusher.event", "text": text})
    return JsonResponse({"batch": [{} for _ in body["batch"]]})


@csrf_exempt
async def events(request: HttpRequest, app_id: str) -> JsonResponse:
    body = json.loads(request.body)
    layer = get_channel_layer()
    assert layer is not None
    for channel in body["channels"]:
        text = _dumps({"event": body["name"], "channel": channel, "data": body["data"]})
        await layer.group_send(channel, {"type": "pusher.event", "text": text})
    return JsonResponse({})
