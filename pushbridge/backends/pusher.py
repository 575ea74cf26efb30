"""Hosted Pusher Channels, through its HTTP API.

Signed requests (``auth_key``, ``auth_timestamp``, ``auth_version``, ``body_md5``,
``auth_signature``) sent through one keep-alive :class:`~pushbridge.backends.transport.Transport`
per host, with connect and read timeouts. Each call sends ONE request and never waits or loops:
retries belong to ``pushbridge.dispatch.retry``, which every dispatch mode uses. This module
only classifies a failure as retryable (``BackendError.retryable``) when the event was most
likely not delivered, or when the service asks for a retry:

* connection errors (refused, DNS, connect timeout): the request never arrived;
* a connection that closed before any reply (a keep-alive connection the service had
  dropped): most likely never read, but it may have been, so a retry can deliver the event
  twice (at least once, as everywhere in pushbridge; history events carry an id that receivers
  use to drop a repeat); it is not tried on another host;
* HTTP 429 and 5xx: the service says it did not take it (``Retry-After`` is passed on).

A 2xx reply whose body reports an error (``{"error": ..., "code": 401}``, as Soketi answers
every error) is that error, with the reported status, classified by the same rule.

A read timeout is *not* retryable: the service may already have published the event, and a
retry would deliver it twice. Other 4xx are never retryable: they will not get better.
Errors carry the HTTP status and the service's own message.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

from pushbridge import crypto
from pushbridge.backends.base import BaseBackend
from pushbridge.backends.transport import (
    ConnectionFailed,
    NeverConnected,
    Reply,
    ReplyTimeout,
    Transport,
    TransportError,
)
from pushbridge.conf import BackendConfig
from pushbridge.defaults import DEFAULT_CLUSTER, VERSION, pusher_api_host
from pushbridge.errors import (
    BackendError,
    BackendUnavailable,
    InvalidChannel,
    error_for_status,
    error_reported_in,
)
from pushbridge.events import Event
from pushbridge.limits import is_encrypted
from pushbridge.signing import sign_request

logger = logging.getLogger("pushbridge.backends")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class PusherBackend(BaseBackend):
    """Send through the Pusher Channels HTTP API (hosted Pusher, or any compatible server)."""

    default_settings = {"CLUSTER": DEFAULT_CLUSTER, "USE_TLS": True}
    required_settings: ClassVar[tuple[str, ...]] = ("APP_ID", "KEY", "SECRET")

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.app_id = config.require("APP_ID")
        self.key = config.require("KEY")
        self.secret = config.require("SECRET")
        #: One base URL per host of ``HOSTS`` (or the one host), in order of preference.
        self.base_urls = self._base_urls(config)
        self._current = 0  # index of the host that answered last: requests go there first
        self.timeout = config.timeout
        self._pool_size = int(config.options.get("pool_maxsize", 10))
        #: One transport per base URL, made on first use so that idle backends hold no sockets.
        self._transports: list[Transport | None] = [None] * len(self.base_urls)
        self._transports_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """The base URL of the host that requests go to first (the one that answered last)."""
        return self.base_urls[self._current]

    @staticmethod
    def _base_urls(config: BackendConfig) -> tuple[str, ...]:
        tls = True if config.use_tls is None else config.use_tls
        scheme = "https" if tls else "http"
        default_port = 443 if tls else 80
        hosts = config.hosts or ((pusher_api_host(config.cluster or DEFAULT_CLUSTER), config.port),)
        return tuple(
            f"{scheme}://{host}" + ("" if port in (None, default_port) else f":{port}") for host, port in hosts
        )

    def transport(self, index: int) -> Transport:
        """The keep-alive transport to ``base_urls[index]``, made (reading the environment) once."""
        transport = self._transports[index]
        if transport is None:
            with self._transports_lock:  # two threads triggering first must not build two pools
                transport = self._transports[index]
                if transport is None:
                    transport = self._transports[index] = Transport(
                        self.base_urls[index],
                        timeout=self.timeout,
                        pool_size=self._pool_size,
                        headers={"User-Agent": f"pushbridge/{VERSION}", "X-Pusher-Library": f"pushbridge {VERSION}"},
                    )
        return transport

    def close(self) -> None:
        with self._transports_lock:
            transports, self._transports = self._transports, [None] * len(self.base_urls)
        for transport in transports:
            if transport is not None:
                transport.close()

    # -- sending ---------------------------------------------------------------------------

    def trigger(self, event: Event) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": event.name,
            "channels": list(event.channels),
            "data": self._wire_data(event.channels[0], event.data),
        }
        if event.socket_id:
            body["socket_id"] = event.socket_id
        return self._request("POST", f"/apps/{self.app_id}/events", body=body)

    def trigger_batch(self, events: Sequence[Event]) -> dict[str, Any]:
        batch = []
        for event in events:
            (channel,) = event.channels
            item = {"channel": channel, "name": event.name, "data": self._wire_data(channel, event.data)}
            if event.socket_id:
                item["socket_id"] = event.socket_id
            batch.append(item)
        return self._request("POST", f"/apps/{self.app_id}/batch_events", body={"batch": batch})

    def _wire_data(self, channel: str, data: str) -> str:
        """Encrypt the data of an encrypted channel; leave every other payload as it is."""
        if not is_encrypted(channel):
            return data
        sealed = crypto.encrypt(channel, data, self.config.master_key_for(channel))
        return self.limits.check_payload(sealed, channel=channel)

    # -- queries ---------------------------------------------------------------------------

    def channels(self, prefix: str | None = None, info: Iterable[str] | str = ()) -> dict[str, dict[str, Any]]:
        params = {}
        if prefix:
            params["filter_by_prefix"] = prefix
        if info_text := _info(info):
            params["info"] = info_text
        reply = self._request("GET", f"/apps/{self.app_id}/channels", params=params)
        return dict(reply.get("channels", {}))

    def channel_info(self, name: str, info: Iterable[str] | str = ()) -> dict[str, Any]:
        params = {"info": info_text} if (info_text := _info(info)) else {}
        return self._request("GET", self._channel_path(name), params=params)

    def channel_users(self, name: str) -> list[str]:
        reply = self._request("GET", self._channel_path(name) + "/users")
        return [str(user["id"]) for user in reply.get("users", [])]

    def _channel_path(self, name: str) -> str:
        """The API path of a channel; its characters need no escaping once checked."""
        if self.limits.check_channel(name).startswith("#"):
            raise InvalidChannel(f"Channel {name!r} cannot be queried: the HTTP API has no paths for # channels.")
        return f"/apps/{self.app_id}/channels/{name}"

    def terminate_user_connections(self, user_id: str) -> None:
        user_id = self.limits.check_user_id(user_id)
        self._request("POST", f"/apps/{self.app_id}/users/{user_id}/terminate_connections", body={})

    # -- HTTP ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        target = f"{path}?{urlencode(sign_request(self.key, self.secret, method, path, params, payload))}"
        url = self.base_url + path
        try:
            reply, url = self._send(method, path, target, body=payload or None, headers=headers)
        except NeverConnected as exc:
            # Refused, unreachable, connect timeout: a retry cannot deliver an event twice.
            raise BackendUnavailable(f"Could not connect: {exc}", backend=self.alias, url=url) from None
        except ConnectionFailed as exc:
            # No reply began: a connection closed before a word of reply (a keep-alive
            # connection the service had dropped), a proxy or TLS failure. Retried; see above.
            raise BackendUnavailable(
                f"Could not connect, or the connection closed before any reply: {exc}", backend=self.alias, url=url
            ) from None
        except ReplyTimeout:
            raise BackendUnavailable(
                f"No reply within {self.timeout[1]} s; not retried, since the service may already "
                "have published the event.",
                backend=self.alias,
                url=url,
                retryable=False,
            ) from None
        except TransportError as exc:
            # A broken reply (bad chunking, undecodable body...): the request may have been
            # taken, so it is not retryable; the caller still gets a pushbridge error.
            raise BackendError(f"The request failed: {exc}", backend=self.alias, url=url) from None
        result, reported = self._outcome(reply, url)
        if reported is None:
            return result
        reported.retryable = reported.status in RETRY_STATUSES
        reported.retry_after = _retry_after(reply)
        raise reported

    def _send(
        self, method: str, path: str, target: str, *, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[Reply, str]:
        """Send to the host that answered last; if it refuses the connection, to the next, in turn.

        Only a connection that was never made moves on (refused, unreachable, connect
        timeout): the request cannot have arrived, so trying another host cannot publish an
        event twice. The host that answers becomes the first choice of later requests.
        """
        count = len(self.base_urls)
        first = self._current
        for offset in range(count):
            index = (first + offset) % count
            url = self.base_urls[index] + path
            try:
                reply = self.transport(index).request(method, target, body=body, headers=headers)
            except NeverConnected as exc:
                if offset == count - 1:
                    raise
                logger.warning("pushbridge %s: %s refused (%s); trying the next host", self.alias, url, exc)
                continue
            self._current = index
            return reply, url
        raise AssertionError("unreachable: the last host's failure is raised")  # pragma: no cover

    def _outcome(self, reply: Reply, url: str) -> tuple[dict[str, Any], BackendError | None]:
        """The reply, or the error it reports: by its status, or by its body when the status is 2xx.

        A 2xx whose body reports an error (Soketi answers every error with 200) fails exactly
        as the reported status would have, so no error is ever taken for success.
        """
        if reply.status >= 300:
            status = reply.status
            return {}, error_for_status(status)(_error_message(reply), status=status, backend=self.alias, url=url)
        result = _json_reply(reply)
        return result, error_reported_in(result, backend=self.alias, url=url)


def _info(info: Iterable[str] | str) -> str:
    return info if isinstance(info, str) else ",".join(info)


def _json_reply(reply: Reply) -> dict[str, Any]:
    if not reply.body:
        return {}
    try:
        result = json.loads(reply.body)
    except ValueError:
        return {}
    return result if isinstance(result, dict) else {"result": result}


def _error_message(reply: Reply) -> str:
    """The service's explanation: ``{"error": ...}`` (Soketi, pushbridge) or the body text."""
    try:
        body = json.loads(reply.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message"):
            if body.get(key):
                return str(body[key])
    text = reply.body.decode("utf-8", errors="replace").strip()
    return text[:500] if text else reply.reason or "no message"


def _retry_after(reply: Reply) -> float | None:
    value = reply.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
