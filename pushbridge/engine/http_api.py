"""Pusher's HTTP API (pusher.com/docs/channels/library_auth_reference/rest-api): publish and query.

Requests are verified (signature, timestamp, body hash) against the app in the path, then
routed: ``POST events`` / ``batch_events`` publish, ``GET channels`` / ``channels/{name}`` /
``channels/{name}/users`` ask the bus, ``POST users/{id}/terminate_connections`` closes a
user's connections. Every refusal is ``{"error": message}`` with the status Pusher uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote

from pushbridge.engine.apps import Apps
from pushbridge.engine.bus import Bus
from pushbridge.engine.cache import CacheChannels
from pushbridge.engine.codec import check_payload, decode
from pushbridge.engine.codes import TERMINATED_BY_APP, UNAUTHORIZED
from pushbridge.engine.connections import Connections
from pushbridge.engine.outputs import HttpReply, Output
from pushbridge.engine.publishing import Publisher
from pushbridge.engine.state import AppState
from pushbridge.errors import PayloadTooLarge, SignatureError, ValidationError
from pushbridge.limits import check_socket_id, is_cache_channel, is_presence
from pushbridge.signing import verify_request

_EVENT_INFO = {"user_count", "subscription_count"}


class HttpError(Exception):
    """Raised inside the HTTP API handlers; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpApi:
    """Answers HTTP API requests for every hosted app."""

    def __init__(
        self,
        apps: Apps,
        bus: Bus,
        publisher: Publisher,
        cache: CacheChannels,
        connections: Connections,
        *,
        wall_clock: Callable[[], float],
    ) -> None:
        self._apps = apps
        self._bus = bus
        self._publisher = publisher
        self._cache = cache
        self._connections = connections
        self._wall_clock = wall_clock

    def handle(self, method: str, target: str, body: bytes) -> HttpReply:
        """Answer one request; ``target`` is the raw path and query string as received.

        The signature is checked against the raw path first, then the percent-decoded one.
        """
        try:
            return self._handle(method.upper(), target, body)
        except HttpError as exc:
            return HttpReply(exc.status, {"error": exc.message})

    def _handle(self, method: str, target: str, body: bytes) -> HttpReply:
        raw_path, _, query_string = target.partition("?")
        path = unquote(raw_path)
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        parts = [part for part in path.split("/") if part]
        state: AppState | None
        if len(parts) >= 2 and parts[0] == "apps":
            state = self._apps.by_id.get(parts[1])
            if state is None:
                raise HttpError(404, f"Unknown app id {parts[1]!r}.")
            route = parts[2:]
        elif len(parts) == 3 and parts[0] == "users" and parts[2] == "terminate_connections":
            # The official SDK calls this path without the /apps/{id} prefix.
            state = self._apps.by_key.get(query.get("auth_key", ""))
            if state is None:
                raise HttpError(401, f"Unknown auth_key {query.get('auth_key')!r}.")
            route = parts
        else:
            raise HttpError(404, f"Unknown path {path!r}; the HTTP API lives under /apps/<app_id>/.")
        config = state.config
        try:
            verify_request(config.key, config.secret, method, (raw_path, path), query, body, now=self._wall_clock())
        except SignatureError as exc:
            raise HttpError(401, exc.reason) from None
        try:
            return self._route(state, method, route, query, body)
        except PayloadTooLarge as exc:
            raise HttpError(413, str(exc)) from None
        except ValidationError as exc:
            raise HttpError(400, str(exc)) from None

    def _route(self, state: AppState, method: str, route: list[str], query: dict[str, str], body: bytes) -> HttpReply:
        n = len(route)
        if n == 1 and route[0] in ("events", "batch_events"):
            _expect(method, "POST")
            payload = _json_body(body)
            if route[0] == "events":
                return self._post_events(state, payload)
            return self._post_batch(state, payload)
        if n >= 1 and route[0] == "channels":
            _expect(method, "GET")
            if n == 1:
                return self._get_channels(state, query)
            if n == 2:
                return self._get_channel(state, route[1], query)
            if n == 3 and route[2] == "users":
                return self._get_users(state, route[1])
        if n == 3 and route[0] == "users" and route[2] == "terminate_connections":
            _expect(method, "POST")
            return self._terminate(state, route[1])
        raise HttpError(404, f"Unknown API path /{'/'.join(route)} for app {state.config.app_id!r}.")

    # -- publishing -------------------------------------------------------------------------------

    def _post_events(self, state: AppState, payload: dict[str, Any]) -> HttpReply:
        limits = state.config.limits
        if "channels" in payload:
            channels = payload["channels"]
            if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
                raise HttpError(400, "'channels' must be a list of channel names.")
        elif "channel" in payload:
            channels = payload["channel"]
            if not isinstance(channels, str):
                raise HttpError(400, "'channel' must be a channel name.")
        else:
            raise HttpError(400, "Missing 'channels' (a list) or 'channel'.")
        names = limits.check_channels(channels)
        event, data, socket_id = _check_event(state, payload, names)
        attributes = _info_attributes(payload.get("info"), _EVENT_INFO)
        outputs = self._publisher.publish(state, names, event, data, socket_id)
        if not attributes:
            return HttpReply(200, {}, outputs)
        info = {name: self._attributes(state, name, attributes, strict=False) for name in names}
        return HttpReply(200, {"channels": info}, outputs)

    def _post_batch(self, state: AppState, payload: dict[str, Any]) -> HttpReply:
        limits = state.config.limits
        batch = payload.get("batch")
        if not isinstance(batch, list):
            raise HttpError(400, "Missing 'batch': a list of events.")
        if len(batch) > limits.max_batch_size:
            raise HttpError(400, f"Batch holds {len(batch)} events; the limit is {limits.max_batch_size}.")
        checked = []
        for index, item in enumerate(batch):
            if not isinstance(item, dict):
                raise HttpError(400, f"Batch item {index} must be an object.")
            channel = item.get("channel")
            if not isinstance(channel, str):
                raise HttpError(400, f"Batch item {index} needs a 'channel' string.")
            names = (limits.check_channel(channel),)
            event, data, socket_id = _check_event(state, item, names)
            attributes = _info_attributes(item.get("info"), _EVENT_INFO)
            checked.append((names, event, data, socket_id, attributes))
        # Every item was valid: only now publish, so a bad item publishes nothing.
        outputs: list[Output] = []
        for names, event, data, socket_id, _ in checked:
            outputs += self._publisher.publish(state, names, event, data, socket_id)
        if not any(attributes for *_, attributes in checked):
            return HttpReply(200, {}, outputs)
        infos = [
            self._attributes(state, names[0], attributes, strict=False) if attributes else {}
            for names, _, _, _, attributes in checked
        ]
        return HttpReply(200, {"batch": infos}, outputs)

    # -- queries ----------------------------------------------------------------------------------

    def _attributes(self, state: AppState, name: str, attributes: set[str], *, strict: bool) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if attributes & _EVENT_INFO:
            info = self._bus.channel_info(state, name)
            if "user_count" in attributes:
                if is_presence(name):
                    result["user_count"] = info.user_count
                elif strict:
                    raise HttpError(400, f"info=user_count is only available for presence channels, not {name!r}.")
            if "subscription_count" in attributes:
                result["subscription_count"] = info.subscription_count
        if "cache" in attributes:
            if not is_cache_channel(name):
                raise HttpError(400, f"info=cache is only available for cache channels, not {name!r}.")
            cached = self._cache.lookup(state, name)
            if cached is not None:
                result["cache"] = {"data": cached[0], "ttl": cached[1]}
        return result

    def _get_channels(self, state: AppState, query: dict[str, str]) -> HttpReply:
        prefix = query.get("filter_by_prefix", "")
        attributes = _info_attributes(query.get("info"), _EVENT_INFO)
        if "user_count" in attributes and not prefix.startswith("presence-"):
            raise HttpError(400, "info=user_count needs filter_by_prefix=presence- (it only exists for presence).")
        channels = {
            name: self._attributes(state, name, attributes, strict=True) for name in self._bus.channels(state, prefix)
        }
        return HttpReply(200, {"channels": channels})

    def _get_channel(self, state: AppState, name: str, query: dict[str, str]) -> HttpReply:
        state.config.limits.check_channel(name)
        attributes = _info_attributes(query.get("info"), _EVENT_INFO | {"cache"})
        body: dict[str, Any] = {"occupied": self._bus.channel_info(state, name).occupied}
        body.update(self._attributes(state, name, attributes, strict=True))
        return HttpReply(200, body)

    def _get_users(self, state: AppState, name: str) -> HttpReply:
        state.config.limits.check_channel(name)
        if not is_presence(name):
            raise HttpError(400, f"Users can only be listed for presence channels, not {name!r}.")
        return HttpReply(200, {"users": [{"id": uid} for uid in self._bus.users(state, name)]})

    def _terminate(self, state: AppState, user_id: str) -> HttpReply:
        user_id = state.config.limits.check_user_id(user_id)
        outputs: list[Output] = []
        for conn in list(state.users.get(user_id, ())):
            outputs += self._connections.close(conn, UNAUTHORIZED, TERMINATED_BY_APP)
        outputs += self._bus.terminate(state, user_id)
        return HttpReply(200, {}, outputs)


def _check_event(state: AppState, item: dict[str, Any], names: Sequence[str]) -> tuple[str, str, str | None]:
    limits = state.config.limits
    event = limits.check_event_name(item.get("name"))
    data = item.get("data")
    if not isinstance(data, str):
        raise HttpError(400, "'data' must be a string (JSON-encode objects before sending).")
    check_payload(limits, data, names[0] if len(names) == 1 else None)
    socket_id = item.get("socket_id")
    if socket_id is not None:
        check_socket_id(socket_id)
    return event, data, socket_id


def _expect(method: str, wanted: str) -> None:
    if method != wanted:
        raise HttpError(405, f"Method {method} is not allowed here; use {wanted}.")


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        payload = decode(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise HttpError(400, "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise HttpError(400, "The request body must be a JSON object.")
    return payload


def _info_attributes(value: object, allowed: set[str]) -> set[str]:
    """Parse an ``info`` parameter (``"user_count,subscription_count"``) into a set."""
    if value is None or value == "":
        return set()
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise HttpError(400, "'info' must be a comma-separated string.")
    attributes = {part.strip() for part in value.split(",") if part.strip()}
    unknown = attributes - allowed
    if unknown:
        raise HttpError(400, f"Unknown info attribute(s) {sorted(unknown)}; allowed here: {sorted(allowed)}.")
    return attributes
