"""The Pusher HTTP backend against a real local HTTP server: URLs, signing, bodies, retries and errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from django.test import override_settings
from pytest_httpserver import HTTPServer

import pushbridge
from pushbridge import crypto, signing
from pushbridge.backends import get_backend
from pushbridge.backends.base import BaseBackend
from pushbridge.conf import get_config
from pushbridge.dispatch import retry
from pushbridge.dispatch.retry import RetryPolicy
from pushbridge.errors import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BadRequest,
    ConfigurationError,
    Forbidden,
    InvalidChannel,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTooLarge,
    ServerError,
    UnsupportedOperation,
)
from tests.http_service import OK, raw_service, refused_port, unanswered_port

MASTER_KEY = "OHRXNUZRTG5pUTFzQlFGd3J3N3Q2VFZFc0paZDEweVk="


def pusher_entry(port: int, **extra: Any) -> dict[str, Any]:
    """The hosted-Pusher backend (its limits, its signing), aimed at a local plain-HTTP port."""
    return {
        "BACKEND": "pusher",
        "APP_ID": "123",
        "KEY": "key",
        "SECRET": "secret",
        "HOST": "127.0.0.1",
        "PORT": port,
        "USE_TLS": False,
        "RETRIES": 2,
        "ENCRYPTION_MASTER_KEY": MASTER_KEY,
        "OPTIONS": {"retry_backoff": 0.001, "retry_backoff_max": 0.01},
        **extra,
    }


@pytest.fixture(autouse=True)
def pusher_settings(api_server: HTTPServer) -> Iterator[None]:
    with override_settings(PUSHBRIDGE={"default": pusher_entry(api_server.port), "memory": {"BACKEND": "memory"}}):
        yield


@pytest.fixture
def api(api_server: HTTPServer) -> HTTPServer:
    return api_server


def sent(api: HTTPServer, index: int = 0) -> tuple[str, dict[str, str], Any]:
    """Path, query and decoded JSON body of one received request, after checking its signature."""
    request = api.log[index][0]
    query = dict(request.args.items())
    body = request.get_data()
    signing.verify_request("key", "secret", request.method, request.path, query, body)
    return request.path, query, json.loads(body) if body else None


def test_trigger_posts_signed_events(api: HTTPServer) -> None:
    api.expect_request("/apps/123/events", method="POST").respond_with_json({})
    assert pushbridge.trigger(["a", "b"], "my-event", {"x": 1}, socket_id="1.2") == {}
    path, query, body = sent(api)
    assert path == "/apps/123/events"
    assert set(query) == {"auth_key", "auth_timestamp", "auth_version", "body_md5", "auth_signature"}
    assert body == {"name": "my-event", "channels": ["a", "b"], "data": '{"x":1}', "socket_id": "1.2"}
    headers = api.log[0][0].headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"pushbridge/{pushbridge.__version__}"
    assert headers["X-Pusher-Library"] == f"pushbridge {pushbridge.__version__}"
    assert headers["Host"] == f"127.0.0.1:{api.port}"


def test_one_keep_alive_connection_is_reused() -> None:
    with raw_service(OK) as service, override_settings(PUSHBRIDGE={"default": pusher_entry(service.port)}):
        backend = get_backend()
        pushbridge.trigger("a", "e", 1)
        transport = backend.transport(0)  # type: ignore[attr-defined]
        pushbridge.trigger("a", "e", 2)
        pushbridge.channels()
        assert backend.transport(0) is transport  # type: ignore[attr-defined]
        assert [method for _, method, _ in service.requests] == ["POST", "POST", "GET"]
        assert service.connections == 1


@pytest.mark.parametrize(("pool_size", "connections"), [(2, 6), (10, 4)])
def test_the_pool_keeps_pool_maxsize_idle_connections(pool_size: int, connections: int) -> None:
    """Two waves of 4 requests at once: the second reuses as many connections as the pool kept."""
    entry = {"OPTIONS": {"pool_maxsize": pool_size}, "RETRIES": 0}
    with (
        raw_service(OK, wave=4) as service,
        override_settings(PUSHBRIDGE={"default": pusher_entry(service.port, **entry)}),
    ):
        for _ in range(2):
            threads = [threading.Thread(target=pushbridge.trigger, args=("c", "e", n)) for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
        assert len(service.requests) == 8
        assert service.connections == connections


def test_batch_is_split_by_ten_in_order(api: HTTPServer) -> None:
    api.expect_request("/apps/123/batch_events", method="POST").respond_with_json({})
    events = [pushbridge.Event(f"c{i}", "e", {"i": i}) for i in range(22)]
    replies = pushbridge.trigger_batch(events)
    assert len(replies) == 3
    batches = [sent(api, i)[2]["batch"] for i in range(len(api.log))]
    assert [len(b) for b in batches] == [10, 10, 2]
    flat = [item for batch in batches for item in batch]
    assert [item["channel"] for item in flat] == [f"c{i}" for i in range(22)]
    assert flat[0] == {"channel": "c0", "name": "e", "data": '{"i":0}'}


def test_multi_channel_events_go_alone_in_one_events_request(api: HTTPServer) -> None:
    api.expect_request("/apps/123/batch_events", method="POST").respond_with_json({})
    api.expect_request("/apps/123/events", method="POST").respond_with_json({})
    many = [f"c{i}" for i in range(100)]
    events = [
        pushbridge.Event("x", "e", 0),
        pushbridge.Event("y", "e", 1),
        pushbridge.Event(many, "all", 2, socket_id="3.4"),
        pushbridge.Event("z", "f", 3),
    ]
    pushbridge.trigger_batch(events)
    requests_sent = [sent(api, i) for i in range(len(api.log))]
    assert [path for path, _, _ in requests_sent] == [
        "/apps/123/batch_events",
        "/apps/123/events",
        "/apps/123/events",
    ]
    assert [item["channel"] for item in requests_sent[0][2]["batch"]] == ["x", "y"]
    assert requests_sent[1][2] == {"name": "all", "channels": many, "data": "2", "socket_id": "3.4"}
    assert requests_sent[2][2] == {"name": "f", "channels": ["z"], "data": "3"}


def test_encrypted_payload_is_checked_at_its_sealed_size_before_sending(api: HTTPServer) -> None:
    with pytest.raises(PayloadTooLarge, match="for channel 'private-encrypted-x' is 12"):
        pushbridge.trigger("private-encrypted-x", "e", "x" * 9000)  # fits in 10 KB plain, not sealed
    assert api.log == []


def test_hash_channels_cannot_be_queried(api: HTTPServer) -> None:
    with pytest.raises(InvalidChannel, match="cannot be queried"):
        pushbridge.channel_info("#server-to-user-5")
    assert api.log == []


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # a chunk size that is no number
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 7\r\n\r\nnotgzip",  # undecodable
    ],
)
def test_a_broken_reply_is_a_pushbridge_error_and_not_retried(reply: bytes) -> None:
    with raw_service(reply) as service, override_settings(PUSHBRIDGE={"default": pusher_entry(service.port)}):
        with pytest.raises(BackendError, match="The request failed: ") as info:
            pushbridge.trigger("c", "e", 1)
        assert len(service.requests) == 1  # it may have been taken: never sent again
    assert type(info.value) is BackendError
    assert info.value.retryable is False


def test_invalid_event_in_a_batch_sends_nothing(api: HTTPServer) -> None:
    events = [pushbridge.Event("a", "e", 1), pushbridge.Event("b", "e", "x" * 20000)]
    with pytest.raises(PayloadTooLarge, match="for channel 'b' is 20000 bytes"):
        pushbridge.trigger_batch(events)
    assert api.log == []


def test_invalid_trigger_sends_nothing(api: HTTPServer) -> None:
    with pytest.raises(pushbridge.PushbridgeError):
        pushbridge.trigger("bad channel", "e", 1)
    with pytest.raises(PayloadTooLarge):
        pushbridge.trigger("c", "e", "x" * 10241)
    assert api.log == []


def test_encrypted_channel_data_is_sealed(api: HTTPServer) -> None:
    api.expect_request("/apps/123/events", method="POST").respond_with_json({})
    pushbridge.trigger("private-encrypted-orders", "paid", {"total": 5})
    data = sent(api)[2]["data"]
    assert set(json.loads(data)) == {"nonce", "ciphertext"}
    opened = crypto.decrypt("private-encrypted-orders", data, crypto.parse_master_key(MASTER_KEY))
    assert json.loads(opened) == {"total": 5}


def test_encrypted_channel_without_master_key(api: HTTPServer) -> None:
    entry = {k: v for k, v in pusher_entry(api.port).items() if k != "ENCRYPTION_MASTER_KEY"}
    with (
        override_settings(PUSHBRIDGE={"default": entry}),
        pytest.raises(
            ConfigurationError, match=r"'private-encrypted-x' is end-to-end encrypted, but .*ENCRYPTION_MASTER_KEY"
        ),
    ):
        pushbridge.trigger("private-encrypted-x", "e", 1)
    assert api.log == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(api: HTTPServer, status: int) -> None:
    api.expect_ordered_request("/apps/123/events", method="POST").respond_with_json({"error": "busy"}, status=status)
    api.expect_ordered_request("/apps/123/events", method="POST").respond_with_json({})
    assert pushbridge.trigger("c", "e", 1) == {}
    assert [response.status_code for _, response in api.log] == [status, 200]
    # each attempt is signed afresh
    for index in range(2):
        sent(api, index)


def test_retries_are_bounded_and_error_carries_status_and_message(api: HTTPServer) -> None:
    api.expect_request("/apps/123/events").respond_with_json({"error": "Over quota, slow down"}, status=429)
    with pytest.raises(RateLimited) as info:
        pushbridge.trigger("c", "e", 1)
    assert len(api.log) == 3  # first try + RETRIES=2
    assert info.value.status == 429
    assert info.value.message == "Over quota, slow down"
    assert "HTTP 429" in str(info.value)


def test_server_error_text_body(api: HTTPServer) -> None:
    api.expect_request("/apps/123/events").respond_with_data("upstream exploded", status=500)
    with pytest.raises(ServerError, match="upstream exploded"):
        pushbridge.trigger("c", "e", 1)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequest), (401, AuthenticationFailed), (403, Forbidden), (404, NotFound),
     (413, RequestTooLarge)],
)  # fmt: skip
def test_other_4xx_never_retried(api: HTTPServer, status: int, error: type[Exception]) -> None:
    api.expect_request("/apps/123/events").respond_with_data("Invalid signature", status=status)
    with pytest.raises(error, match="Invalid signature") as info:
        pushbridge.trigger("c", "e", 1)
    assert len(api.log) == 1
    assert getattr(info.value, "status", None) == status


def test_connection_errors_retried_then_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("pushbridge.dispatch.retry.time.sleep", waits.append)
    with (
        override_settings(PUSHBRIDGE={"default": pusher_entry(refused_port())}),
        pytest.raises(BackendUnavailable, match=r"Could not connect: .*Connection refused") as info,
    ):
        pushbridge.trigger("c", "e", 1)
    assert len(waits) == 2  # three attempts: the first + RETRIES=2
    assert info.value.status is None
    assert info.value.retryable is True


def test_connection_error_then_success(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service starts listening while the sender waits to retry: the retry delivers."""
    port = refused_port()
    with ExitStack() as stack, override_settings(PUSHBRIDGE={"default": pusher_entry(port)}):
        services = []
        monkeypatch.setattr(
            "pushbridge.dispatch.retry.time.sleep",
            lambda _: services.append(stack.enter_context(raw_service(port=port))),
        )
        assert pushbridge.trigger("c", "e", 1) == {}
        assert len(services) == 1
        assert len(services[0].requests) == 1


def test_a_connect_timeout_is_retryable() -> None:
    with (
        unanswered_port() as port,
        override_settings(PUSHBRIDGE={"default": pusher_entry(port, TIMEOUT=(0.2, 5))}),
        pytest.raises(BackendUnavailable, match="Could not connect: ") as info,
    ):
        get_backend().trigger(pushbridge.Event("c", "e", 1))
    assert info.value.retryable is True


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\n",  # the status line, and the headers never end
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",  # the head, then part of the body
    ],
    ids=["no-head", "part-of-the-body"],
)
def test_read_timeout_is_not_retried(reply: bytes) -> None:
    with (
        raw_service(reply, hold=2) as service,
        override_settings(PUSHBRIDGE={"default": pusher_entry(service.port, TIMEOUT=(1, 0.2))}),
    ):
        with pytest.raises(BackendUnavailable, match=r"No reply within 0\.2 s; not retried") as info:
            pushbridge.trigger("c", "e", 1)
        assert len(service.requests) == 1
    assert info.value.retryable is False


def test_retry_after_is_honoured(api: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("pushbridge.dispatch.retry.time.sleep", waits.append)
    api.expect_ordered_request("/apps/123/events").respond_with_data("", status=429, headers={"Retry-After": "0.005"})
    api.expect_ordered_request("/apps/123/events").respond_with_json({})
    pushbridge.trigger("c", "e", 1)
    assert waits == [0.005]


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(retries=5, backoff=0.1, backoff_max=1.0)
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (5, 1.0)]:
        delays = [policy.delay(attempt, None) for _ in range(200)]
        assert min(delays) >= 0
        assert max(delays) <= ceiling
    assert policy.delay(0, 30) == 1.0  # Retry-After is honoured up to the longest wait


def test_the_backend_sends_once_and_classifies(api: HTTPServer) -> None:
    """Retries belong to dispatch.retry: the backend itself never loops or sleeps."""
    api.expect_ordered_request("/apps/123/events").respond_with_json(
        {"error": "restarting"}, status=503, headers={"Retry-After": "7"}
    )
    with pytest.raises(ServerError) as info:
        get_backend().trigger(pushbridge.Event("c", "e", 1))
    assert len(api.log) == 1
    assert info.value.retryable is True
    assert info.value.retry_after == 7.0
    api.expect_ordered_request("/apps/123/events").respond_with_json({"error": "bad"}, status=400)
    with pytest.raises(BadRequest) as refused:
        get_backend().trigger(pushbridge.Event("c", "e", 1))
    assert refused.value.retryable is False
    assert len(api.log) == 2


def test_no_retries_below_the_backend_even_for_reads(api: HTTPServer) -> None:
    """Not even an idempotent GET is tried again by the transport: dispatch.retry alone decides."""
    api.expect_request("/apps/123/channels").respond_with_json(
        {"error": "restarting"}, status=503, headers={"Retry-After": "0"}
    )
    with pytest.raises(ServerError):
        get_backend().channels()
    assert len(api.log) == 1
    with (
        raw_service(b"") as closing,  # takes the request, closes without a reply
        override_settings(PUSHBRIDGE={"default": pusher_entry(closing.port)}),
    ):
        with pytest.raises(BackendUnavailable, match="Remote end closed connection without response"):
            get_backend().channels()
        assert len(closing.requests) == 1


def test_a_2xx_reporting_an_error_is_that_error(api: HTTPServer) -> None:
    """Soketi answers every error with 200 and ``{"error": ..., "code": ...}``."""
    api.expect_request("/apps/123/events").respond_with_json({"error": "Over quota", "code": 429})
    with pytest.raises(RateLimited, match="Over quota") as info:
        get_backend().trigger(pushbridge.Event("c", "e", 1))
    assert (info.value.status, info.value.retryable) == (429, True)


def test_a_redirect_is_not_followed(api: HTTPServer) -> None:
    api.expect_request("/apps/123/events").respond_with_data("", status=307, headers={"Location": "/elsewhere"})
    with pytest.raises(BackendError, match="HTTP 307"):
        get_backend().trigger(pushbridge.Event("c", "e", 1))
    assert [request.path for request, _ in api.log] == ["/apps/123/events"]


def test_retry_numbers_are_per_mode_and_overridable() -> None:
    from pushbridge.conf import build_config

    sync = retry.policy_for(build_config("a", {"BACKEND": "memory"}))
    background = retry.policy_for(build_config("a", {"BACKEND": "memory", "DISPATCH": "background"}))
    durable = retry.policy_for(build_config("a", {"BACKEND": "memory", "DISPATCH": "durable"}))
    assert (sync.retries, sync.backoff, sync.backoff_max) == (2, 0.1, 2.0)
    assert (background.retries, background.backoff, background.backoff_max) == (5, 0.5, 30.0)
    assert (durable.retries, durable.backoff, durable.backoff_max) == (20, 0.5, 60.0)
    custom = build_config("a", {"BACKEND": "memory", "RETRIES": 0, "OPTIONS": {"retry_backoff_max": 9}})
    assert (retry.policy_for(custom).retries, retry.policy_for(custom).backoff_max) == (0, 9.0)


def test_channels_query(api: HTTPServer) -> None:
    api.expect_request("/apps/123/channels", method="GET").respond_with_json(
        {"channels": {"presence-a": {"user_count": 2}}}
    )
    assert pushbridge.channels(prefix="presence-", info="user_count") == {"presence-a": {"user_count": 2}}
    _, query, _ = sent(api)
    assert (query["filter_by_prefix"], query["info"], query["body_md5"]) == (
        "presence-",
        "user_count",
        signing.EMPTY_BODY_MD5,
    )


def test_channel_info_query(api: HTTPServer) -> None:
    api.expect_request("/apps/123/channels/presence-a", method="GET").respond_with_json(
        {"occupied": True, "user_count": 2}
    )
    reply = pushbridge.channel_info("presence-a", info=["user_count", "subscription_count"])
    assert reply == {"occupied": True, "user_count": 2}
    assert sent(api)[1]["info"] == "user_count,subscription_count"


def test_channel_users_query(api: HTTPServer) -> None:
    api.expect_request("/apps/123/channels/presence-a/users", method="GET").respond_with_json(
        {"users": [{"id": "1"}, {"id": 2}]}
    )
    assert pushbridge.channel_users("presence-a") == ["1", "2"]
    assert sent(api)[0] == "/apps/123/channels/presence-a/users"


def test_channel_users_needs_presence() -> None:
    with pytest.raises(InvalidChannel, match="needs a presence- channel"):
        pushbridge.channel_users("private-a")


def test_terminate_user_connections(api: HTTPServer) -> None:
    api.expect_request("/apps/123/users/42/terminate_connections", method="POST").respond_with_json({})
    pushbridge.terminate_user_connections(42)
    path, _, body = sent(api)
    assert (path, body) == ("/apps/123/users/42/terminate_connections", {})


def test_send_to_user(api: HTTPServer) -> None:
    api.expect_request("/apps/123/events", method="POST").respond_with_json({})
    pushbridge.send_to_user("u1", "notice", {"n": 1})
    assert sent(api)[2]["channels"] == ["#server-to-user-u1"]


def test_base_backend_queries_are_unsupported() -> None:
    with pytest.raises(UnsupportedOperation, match=r"BaseBackend does not support channels\(\)"):
        BaseBackend(get_config("memory")).channels()


def test_a_connection_closed_before_any_reply_is_retried_and_said_so() -> None:
    """Most likely never read (a dropped keep-alive connection), so retried: at least once."""
    with (
        raw_service(b"") as closing,  # takes each request and closes without a reply
        override_settings(PUSHBRIDGE={"default": pusher_entry(closing.port)}),
        pytest.raises(BackendUnavailable, match="the connection closed before any reply") as info,
    ):
        pushbridge.trigger("c", "e", 1)
    assert info.value.retryable
    assert len(closing.requests) == 3  # the first try + RETRIES=2
