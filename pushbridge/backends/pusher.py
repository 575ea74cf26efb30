"""Hosted Pusher Channels, through its HTTP API.

One pooled keep-alive :class:`requests.Session` per backend, signed requests (``auth_key``,
``auth_timestamp``, ``auth_version``, ``body_md5``, ``auth_signature``), connect and read
connect and read timeouts. Each call sends ONE request and never waits or loops: retries belong
to ``pushbridge.dispatch.retry``, which every dispatch mode uses. This module only classifies a
failure as retryable (``BackendError.retryable``) when it cannot have delivered the event, or
when the service asks for a retry:

* connection errors (refused, DNS, connect timeout): the request never arrived;
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
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

import requests
import urllib3
from requests.adapters import HTTPAdapter

from pushbridge import crypto
from pushbridge.backends.base import BaseBackend
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
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()

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

    @property
    def session(self) -> requests.Session:
        """The keep-alive session, made on first use so that idle backends hold no sockets."""
        session = self._session
        if session is None:
            with self._session_lock:  # two threads triggering first must not build two pools
                if self._session is None:
                    self._session = self._new_session()
                session = self._session
        return session

    def _new_session(self) -> requests.Session:
        """A keep-alive session with its own pool, reading the environment once."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = f"pushbridge/{VERSION}"
        session.headers["X-Pusher-Library"] = f"pushbridge {VERSION}"
        # requests reads proxy and CA settings from the environment on every request, which
        # costs more than the rest of a trigger; read them once, for this one base URL.
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            session.verify = ca_bundle
        return session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

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
        url = self.base_url + path
        query = sign_request(self.key, self.secret, method, path, params, payload)
        try:
            response, url = self._send(method, path, query=query, body=payload or None, headers=headers)
        except requests.exceptions.ConnectionError as exc:
            # Includes ConnectTimeout: the request never reached the service, so a retry
            # cannot deliver an event twice.
            raise BackendUnavailable(f"Could not connect: {_reason(exc)}", backend=self.alias, url=url) from None
        except requests.exceptions.Timeout:
            raise BackendUnavailable(
                f"No reply within {self.timeout[1]} s; not retried, since the service may already "
                "have published the event.",
                backend=self.alias,
                url=url,
                retryable=False,
            ) from None
        except requests.exceptions.RequestException as exc:
            # A broken reply (bad chunking, undecodable body...): the request may have been
            # taken, so it is not retryable; the caller still gets a pushbridge error.
            raise BackendError(f"The request failed: {_reason(exc)}", backend=self.alias, url=url) from None
        reply, reported = self._outcome(response, url)
        if reported is None:
            return reply
        reported.retryable = reported.status in RETRY_STATUSES
        reported.retry_after = _retry_after(response)
        raise reported

    def _send(
        self, method: str, path: str, *, query: Mapping[str, str], body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[requests.Response, str]:
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
                prepared = self._prepare(method, url, query, body, headers)
                response = self.session.send(prepared, timeout=self.timeout)
            except requests.exceptions.ConnectionError as exc:
                if offset == count - 1 or not _never_connected(exc):
                    raise
                logger.warning("pushbridge %s: %s refused (%s); trying the next host", self.alias, url, _reason(exc))
                continue
            self._current = index
            return response, url
        raise AssertionError("unreachable: the last host's failure is raised")  # pragma: no cover

    def _prepare(
        self, method: str, url: str, query: Mapping[str, str], body: bytes | None, headers: Mapping[str, str]
    ) -> requests.PreparedRequest:
        """The request ``Session.request`` would send, without the work a signed API call never needs.

        ``Session.request`` also merges the session's cookies, auth and hooks into each request
        and encodes the query through requests' generic parameter handling; in a profile of the
        background sender that was about a third of the CPU of a request (cookies the service
        might set are not sent back: the API authenticates by signature alone). The URL is
        still normalised by requests, and the query is the signed one, percent-encoded as
        requests encodes parameters.
        """
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url, None)
        prepared.url = f"{prepared.url}?{urlencode(query)}"
        prepared.prepare_headers({**self.session.headers, **headers})
        prepared.prepare_body(body, None)
        return prepared

    def _outcome(self, response: requests.Response, url: str) -> tuple[dict[str, Any], BackendError | None]:
        """The reply, or the error it reports: by its status, or by its body when the status is 2xx.

        A 2xx whose body reports an error (Soketi answers every error with 200) fails exactly
        as the reported status would have, so no error is ever taken for success.
        """
        if response.status_code >= 300:
            status = response.status_code
            return {}, error_for_status(status)(_error_message(response), status=status, backend=self.alias, url=url)
        reply = _json_reply(response)
        return reply, error_reported_in(reply, backend=self.alias, url=url)


def _info(info: Iterable[str] | str) -> str:
    return info if isinstance(info, str) else ",".join(info)


def _json_reply(response: requests.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        reply = response.json()
    except ValueError:
        return {}
    return reply if isinstance(reply, dict) else {"result": reply}


def _error_message(response: requests.Response) -> str:
    """The service's explanation: ``{"error": ...}`` (Soketi, pushbridge) or the body text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message"):
            if body.get(key):
                return str(body[key])
    text = response.text.strip()
    return text[:500] if text else response.reason or "no message"


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether the connection itself failed (so nothing was sent), rather than a reply."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, which is the part a human can act on."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__  # type: ignore[assignment]
    return str(exc) or type(exc).__name__
