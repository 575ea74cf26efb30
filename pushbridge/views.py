"""The Django face of pushbridge: auth endpoints, the webhook receiver, and ``message_view``.

Mount them with ``path("pushbridge/", include("pushbridge.urls"))``; the URL names are
``pushbridge:auth``, ``pushbridge:user-auth`` and ``pushbridge:webhooks``. The auth views take
the form POST that pusher-js and the shim send (``socket_id``, ``channel_name``), keep CSRF
protection on, and answer 403 with a JSON reason (detailed when ``DEBUG`` is on).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from pushbridge.api import authenticate_channel, authenticate_user, verify_webhook
from pushbridge.auth import authorize
from pushbridge.backends import get_backend
from pushbridge.bodies import request_data
from pushbridge.conf import DEFAULT_ALIAS
from pushbridge.errors import ConfigurationError, ValidationError, WebhookVerificationError
from pushbridge.limits import check_socket_id, is_presence
from pushbridge.middleware import socket_id_from
from pushbridge.signals import WEBHOOK_SIGNALS
from pushbridge.webhook_events import normalise

logger = logging.getLogger("pushbridge.views")

#: How long a handled webhook batch is remembered, to ignore Pusher's redeliveries.
WEBHOOK_DEDUPE_SECONDS = 3600


def _error(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def _refusal(reason: str) -> JsonResponse:
    """403 with the reason when DEBUG is on; without it, do not tell a prober what exists."""
    return _error(reason if settings.DEBUG else "Forbidden.", 403)


def default_user_info(user: Any) -> dict[str, Any]:
    """What presence members and signed-in users show of a user by default: their name."""
    return {"name": user.get_username() if hasattr(user, "get_username") else str(user)}


def default_user_data(request: HttpRequest) -> dict[str, Any]:
    """The signin ``user_data`` of the request's user (``PUSHBRIDGE_USER_DATA`` replaces it)."""
    return {"id": str(request.user.pk), "user_info": default_user_info(request.user)}


def _user_data_builder() -> Callable[[HttpRequest], Mapping[str, Any]]:
    builder = getattr(settings, "PUSHBRIDGE_USER_DATA", None)
    if builder is None:
        return default_user_data
    if isinstance(builder, str):
        try:
            builder = import_string(builder)
        except ImportError as exc:
            raise ConfigurationError(f"PUSHBRIDGE_USER_DATA = {builder!r} cannot be imported: {exc}") from None
    if not callable(builder):
        raise ConfigurationError("PUSHBRIDGE_USER_DATA must be a callable taking the request, or its dotted path.")
    return builder  # type: ignore[no-any-return]


@require_POST
def channel_auth(request: HttpRequest, using: str = DEFAULT_ALIAS) -> HttpResponse:
    """Sign a private, presence or encrypted channel subscription for the session's user."""
    try:
        data = request_data(request)
    except ValidationError as exc:
        return _error(str(exc), 400)
    socket_id, channel_name = data.get("socket_id"), data.get("channel_name")
    if not socket_id or not channel_name:
        return _error("Both socket_id and channel_name are required.", 400)
    try:  # malformed input is refused before any authorization callback (often a query) runs
        check_socket_id(socket_id)
        get_backend(using).limits.check_channel(channel_name)
    except ValidationError as exc:
        return _error(str(exc), 400)
    decision = authorize(request.user, str(channel_name))
    if not decision.allowed:
        return _refusal(decision.reason)
    user_id = user_info = None
    if is_presence(str(channel_name)):
        user_id = decision.user_id if decision.user_id is not None else request.user.pk
        user_info = decision.user_info if decision.user_info is not None else default_user_info(request.user)
    try:
        reply = authenticate_channel(
            str(socket_id), str(channel_name), user_id=user_id, user_info=user_info, using=using
        )
    except ValidationError as exc:
        return _error(str(exc), 400)
    return JsonResponse(reply)


@require_POST
def user_auth(request: HttpRequest, using: str = DEFAULT_ALIAS) -> HttpResponse:
    """Sign the connection in as the session's user (``pusher:signin``)."""
    if not request.user.is_authenticated:
        return _refusal("Signing in requires a logged-in user.")
    try:
        socket_id = request_data(request).get("socket_id")
        if not socket_id:
            return _error("socket_id is required.", 400)
        reply = authenticate_user(str(socket_id), _user_data_builder()(request), using=using)
    except ValidationError as exc:
        return _error(str(exc), 400)
    return JsonResponse(reply)


@csrf_exempt  # Pusher cannot send a CSRF token; the HMAC signature authenticates it instead.
@require_POST
def webhooks(request: HttpRequest, using: str = DEFAULT_ALIAS) -> HttpResponse:
    """Verify a webhook batch and send one Django signal per event in it, in one shape.

    Every service's events reach the signals with the same types (see
    :mod:`pushbridge.webhook_events`).

    A batch seen before (Pusher redelivers until it gets a 2xx) is acknowledged and ignored.
    If a signal receiver raises, the batch is forgotten and a 500 makes Pusher retry it.
    """
    try:
        payload = verify_webhook(
            request.headers.get("X-Pusher-Key"), request.headers.get("X-Pusher-Signature"), request.body, using=using
        )
    except WebhookVerificationError as exc:
        logger.warning("Rejected webhook: %s", exc)
        return _error(str(exc), 401)
    # Redeliveries are recognised through a cache shared by every process that receives
    # webhooks (PUSHBRIDGE_WEBHOOK_CACHE, default "default"); a per-process cache only
    # recognises those that reach the same process.
    cache = caches[getattr(settings, "PUSHBRIDGE_WEBHOOK_CACHE", "default")]
    dedupe_key = "pushbridge:webhook:" + hashlib.sha256(request.body).hexdigest()
    if not cache.add(dedupe_key, True, timeout=WEBHOOK_DEDUPE_SECONDS):
        return JsonResponse({"ok": True, "duplicate": True})
    try:
        for event in payload["events"]:
            signal = WEBHOOK_SIGNALS.get(str(event.get("name")))
            if signal is None:
                logger.info("Ignoring webhook event %r", event.get("name"))
                continue
            signal.send(sender=using, **normalise(event), time_ms=payload.get("time_ms"), payload=event)
    except Exception:
        cache.delete(dedupe_key)
        raise
    return JsonResponse({"ok": True})


# -- client-to-server messages ---------------------------------------------------------------------

MessageHandler = Callable[..., Any]


def message_view(
    form_class: type[forms.BaseForm] | None = None,
    *,
    methods: tuple[str, ...] = ("POST",),
    login_required: bool = True,
) -> Callable[[MessageHandler], Callable[..., HttpResponseBase]]:
    """Turn a function into a view that receives a browser's message.

    ::

        class MessageForm(forms.Form):
            text = forms.CharField(max_length=500)

        @pushbridge.message_view(MessageForm)
        def send_message(request, data, room_id):
            message = Message.objects.create(room_id=room_id, text=data["text"], author=request.user)
            return {"id": message.pk}

    The body may be JSON (what the shim's ``post()`` sends) or a form. With a form class the
    handler gets ``form.cleaned_data``; invalid data is answered with 400 and
    ``{"error": ..., "fields": {"text": ["..."]}}`` naming each field. The handler's dict
    becomes a JSON reply; an ``HttpResponse`` passes through. ``request.pushbridge_socket_id``
    holds the sender's socket id even without the middleware. CSRF protection stays on.
    Anonymous users get a JSON 403 (unlike Django's ``login_required``, whose redirect to a
    login page a ``fetch()`` would follow and take for success): a handler may rely on
    ``request.user`` being a real user, as most do (``author=request.user``). Pass
    ``login_required=False`` for a view that anonymous visitors may use. Bodies nesting JSON
    deeper than :data:`pushbridge.bodies.MAX_JSON_DEPTH` get a 400.
    """

    def decorator(handler: MessageHandler) -> Callable[..., HttpResponseBase]:
        @wraps(handler)
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response = _error(f"Method {request.method} not allowed; use {', '.join(methods)}.", 405)
                response["Allow"] = ", ".join(methods)
                return response
            if login_required and not request.user.is_authenticated:
                return _error("Login required.", 403)
            if not hasattr(request, "pushbridge_socket_id"):
                request.pushbridge_socket_id = socket_id_from(request)  # type: ignore[attr-defined]
            try:
                data: Any = request_data(request)
            except ValidationError as exc:
                return _error(str(exc), 400)
            if form_class is not None:
                form = form_class(data=data, files=request.FILES)
                if not form.is_valid():
                    fields = {name: [str(message) for message in errors] for name, errors in form.errors.items()}
                    named = ", ".join(fields)
                    return _error(f"Invalid data in: {named}.", 400, fields=fields)
                data = form.cleaned_data
            elif not isinstance(data, dict):
                data = dict(data.items())  # a plain dict of the last value of each field
            result = handler(request, data, *args, **kwargs)
            if isinstance(result, HttpResponseBase):
                return result
            return JsonResponse({"ok": True} if result is None else result, safe=False)

        return view

    return decorator
