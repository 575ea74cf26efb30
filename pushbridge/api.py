"""The functions behind ``pushbridge.trigger()`` and friends.

Each call resolves the backend of ``using`` (an alias of the ``PUSHBRIDGE`` setting), builds
and checks the :class:`Event` against that backend's limits, and only then hands it over: an
invalid event never leaves the process, and a batch with one invalid event sends nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pushbridge import crypto, dispatch, signing
from pushbridge.backends import BaseBackend, get_backend
from pushbridge.conf import DEFAULT_ALIAS
from pushbridge.dispatch import retry
from pushbridge.errors import InvalidChannel, ValidationError, WebhookVerificationError
from pushbridge.events import Channels, Event, encode_data
from pushbridge.limits import SERVER_TO_USER_PREFIX, Limits, check_socket_id, is_encrypted, is_presence, requires_auth
from pushbridge.sockets import current_socket_id

T = TypeVar("T")

#: How old a webhook may be before :func:`verify_webhook` refuses it (the SDK uses 300 s).
WEBHOOK_MAX_AGE_SECONDS = 300


def trigger(
    channels: Channels,
    event: str,
    data: Any = None,
    *,
    socket_id: str | None = None,
    to_others: bool = False,
    using: str = DEFAULT_ALIAS,
    on_commit: bool | None = None,
) -> dict[str, Any]:
    """Publish ``event`` with ``data`` on one channel or a list of up to 100.

    ``data`` is encoded with Django's JSON encoder (a ``str`` is sent as is). ``socket_id``
    excludes that connection; ``to_others=True`` excludes the browser behind the current
    request (its ``X-Socket-ID``, see ``SocketIdMiddleware``).

    Inside ``transaction.atomic()`` the event leaves only once the transaction commits, and
    never if it rolls back; ``on_commit=False`` sends at once instead (sync and background
    modes; durable mode always writes in the transaction). Returns the service's reply when
    the event was sent before returning, else ``{}``.
    """
    if to_others and socket_id is None:
        socket_id = current_socket_id()
    backend = get_backend(using)
    return dispatch.send(backend.check(Event(channels, event, data, socket_id=socket_id)), backend, on_commit=on_commit)


def trigger_batch(
    events: Iterable[Event], *, using: str = DEFAULT_ALIAS, on_commit: bool | None = None
) -> list[dict[str, Any]]:
    """Publish several events, in order, in as few requests as the backend allows.

    Single-channel events share requests of the backend's batch limit (10 for Pusher); a
    multi-channel event goes in a request of its own, which reaches all its channels at once.
    Every event is checked before the first request. Inside a transaction they leave on commit,
    as with :func:`trigger` (``on_commit``). Returns the service's reply to each request sent
    before returning.
    """
    backend = get_backend(using)
    checked = [backend.check(_require_event(event)) for event in events]
    return dispatch.send_batch(checked, backend, on_commit=on_commit)


def send_to_user(
    user_id: str | int, event: str, data: Any = None, *, using: str = DEFAULT_ALIAS, on_commit: bool | None = None
) -> dict[str, Any]:
    """Publish ``event`` to every connection signed in as ``user_id`` (``#server-to-user-<id>``).

    Waits for the commit inside a transaction, as :func:`trigger` does (``on_commit``).
    """
    backend = get_backend(using)
    channel = SERVER_TO_USER_PREFIX + backend.limits.check_user_id(user_id)
    return trigger(channel, event, data, using=using, on_commit=on_commit)


def terminate_user_connections(user_id: str | int, *, using: str = DEFAULT_ALIAS) -> None:
    """Close every connection signed in as ``user_id`` (after a logout or a ban)."""
    backend = get_backend(using)
    checked = backend.limits.check_user_id(user_id)
    _with_retries(backend, lambda: backend.terminate_user_connections(checked), "terminate_user_connections")


def channels(
    prefix: str | None = None, info: Iterable[str] | str = (), *, using: str = DEFAULT_ALIAS
) -> dict[str, dict[str, Any]]:
    """Return the occupied channels, optionally those starting with ``prefix``.

    ``info="user_count"`` adds the user count (presence channels only, as Pusher requires).
    """
    backend = get_backend(using)
    return _with_retries(backend, lambda: backend.channels(prefix, info), "channels query")


def channel_info(name: str, info: Iterable[str] | str = (), *, using: str = DEFAULT_ALIAS) -> dict[str, Any]:
    """Return ``{"occupied": ..., ...}`` for one channel, with the ``info`` attributes asked."""
    backend = get_backend(using)
    return _with_retries(backend, lambda: backend.channel_info(name, info), "channel_info query")


def channel_users(name: str, *, using: str = DEFAULT_ALIAS) -> list[str]:
    """Return the ids of the users on a presence channel."""
    if not is_presence(name):
        raise InvalidChannel(f"channel_users() needs a presence- channel; {name!r} is not one.")
    backend = get_backend(using)
    return _with_retries(backend, lambda: backend.channel_users(name), "channel_users query")


# -- signing helpers for auth endpoints ---------------------------------------------------------


def authenticate_channel(
    socket_id: str,
    channel: str,
    *,
    user_id: str | int | None = None,
    user_info: Mapping[str, Any] | None = None,
    using: str = DEFAULT_ALIAS,
) -> dict[str, str]:
    """Return the JSON-ready reply that lets ``socket_id`` subscribe to a private channel.

    Presence channels need ``user_id`` (and take ``user_info``) and get ``channel_data``;
    ``private-encrypted-`` channels get the per-channel ``shared_secret`` as base64 text.
    """
    backend = get_backend(using)
    config = backend.config
    check_socket_id(socket_id)
    backend.limits.check_channel(channel)
    if not requires_auth(channel):
        raise InvalidChannel(f"Channel {channel!r} is public; only private- and presence- channels need auth.")
    key, secret = config.require("KEY"), config.require("SECRET")
    channel_data = None
    if is_presence(channel):
        channel_data = _presence_member(backend.limits, channel, user_id, user_info)
    reply = {"auth": signing.sign_channel(key, secret, socket_id, channel, channel_data)}
    if channel_data is not None:
        reply["channel_data"] = channel_data
    if is_encrypted(channel):
        reply["shared_secret"] = crypto.shared_secret(channel, config.master_key_for(channel))
    return reply


def _presence_member(
    limits: Limits, channel: str, user_id: str | int | None, user_info: Mapping[str, Any] | None
) -> str:
    """Encode a presence member as the ``channel_data`` text that the token signs."""
    if user_id is None:
        raise ValidationError(f"Presence channel {channel!r} needs a user_id for its member.")
    member: dict[str, Any] = {"user_id": limits.check_user_id(user_id)}
    if user_info is not None:
        member["user_info"] = user_info
    channel_data = encode_data(member)
    size = len(channel_data.encode("utf-8"))
    if size > limits.max_presence_member_bytes:
        raise ValidationError(
            f"Presence member data for user {member['user_id']!r} is {size} bytes; "
            f"the limit is {limits.max_presence_member_bytes} bytes."
        )
    return channel_data


def authenticate_user(socket_id: str, user_data: Mapping[str, Any], *, using: str = DEFAULT_ALIAS) -> dict[str, str]:
    """Return the JSON-ready reply that signs ``socket_id`` in as ``user_data`` (``pusher:signin``).

    ``user_data`` must hold an ``id``; ``user_info`` and ``watchlist`` are optional.
    """
    backend = get_backend(using)
    config = backend.config
    check_socket_id(socket_id)
    if not isinstance(user_data, Mapping) or "id" not in user_data:
        raise ValidationError(f"user_data must be a dict with an 'id'; got {user_data!r}.")
    data = {**user_data, "id": backend.limits.check_user_id(user_data["id"])}
    text = encode_data(data)
    token = signing.sign_user(config.require("KEY"), config.require("SECRET"), socket_id, text)
    return {"auth": token, "user_data": text}


def verify_webhook(
    key: str | None,
    signature: str | None,
    body: bytes | str,
    *,
    using: str = DEFAULT_ALIAS,
    max_age: float | None = WEBHOOK_MAX_AGE_SECONDS,
) -> dict[str, Any]:
    """Check a webhook's ``X-Pusher-Key`` and ``X-Pusher-Signature`` and return its payload.

    Raises :class:`WebhookVerificationError` saying which check failed. ``max_age`` refuses
    payloads whose ``time_ms`` is older than that many seconds (``None``: no age check).
    """
    config = get_backend(using).config
    if key != config.require("KEY"):
        raise WebhookVerificationError(f"X-Pusher-Key {key!r} is not this app's key.")
    if not signing.verify_webhook_signature(config.require("SECRET"), signature, body):
        raise WebhookVerificationError("X-Pusher-Signature does not match the body.")
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("Webhook body is not JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise WebhookVerificationError("Webhook body has no 'events' list.")
    if max_age is not None:
        time_ms = payload.get("time_ms")
        if not isinstance(time_ms, (int, float)) or isinstance(time_ms, bool):
            raise WebhookVerificationError(f"Webhook time_ms {time_ms!r} is not a number.")
        age = time.time() - time_ms / 1000
        if age > max_age:
            raise WebhookVerificationError(f"Webhook is {int(age)} s old; the limit is {int(max_age)} s.")
    return payload


def _with_retries(backend: BaseBackend, call: Callable[[], T], what: str) -> T:
    """Queries wait for their answer like a sync send: the same retries (``dispatch.retry``)."""
    return retry.call(call, retry.policy_for(backend.config, retry.SYNC), what=f"{backend.alias!r} {what}")


def _require_event(event: object) -> Event:
    if not isinstance(event, Event):
        raise ValidationError(f"trigger_batch() takes pushbridge.Event objects; got {type(event).__name__}.")
    return event


__all__: Sequence[str] = (
    "authenticate_channel",
    "authenticate_user",
    "channel_info",
    "channel_users",
    "channels",
    "send_to_user",
    "terminate_user_connections",
    "trigger",
    "trigger_batch",
    "verify_webhook",
)
