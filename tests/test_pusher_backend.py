"""The Pusher HTTP backend against `responses`: URLs, signing, bodies, retries and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from django.test import override_settings

import pushbridge
from pushbridge import crypto, signing
from pushbridge.backends import get_backend
from pushbridge.backends.base import BaseBackend
from pushbridge.conf import get_config
from pushbridge.dispatch import retry
from pushbridge.dispatch.retry import RetryPolicy
from pushbridge.errors import (
    AuthenticationFailed,
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

BASE = "https://api-eu.pusher.com"
MASTER_KEY = "OHRXNUZRTG5pUTFzQlFGd3J3N3Q2VFZFc0paZDEweVk="
SETTINGS = {
    "default": {
        "BACKEND": "pusher",
        "APP_ID": "123",
        "KEY": "key",
        "SECRET": "secret",
        "CLUSTER": "eu",
        "RETRIES": 2,
        "ENCRYPTION_MASTER_KEY": MASTER_KEY,
        "OPTIONS": {"retry_backoff": 0.001, "retry_backoff_max": 0.01},
    },
    "memory": {"BACKEND": "memory"},
}


@pytest.fixture(autouse=True)
def pusher_settings() -> Iterator[None]:
    with override_settings(PUSHBRIDGE=SETTINGS):
        yield


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


def sent(call: Any) -> tuple[str, dict[str, str], Any]:
    """Path, query and decoded JSON body of one recorded request, after checking its signature."""
    request = call.request
    url = urlsplit(request.url)
    query = dict(parse_qsl(url.query))
    body = request.body or b""
    signing.verify_request("key", "secret", request.method, url.path, query, body)
    return url.path, query, json.loads(body) if body else None


def test_trigger_posts_signed_events(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", json={})
    assert pushbridge.trigger(["a", "b"], "my-event", {"x": 1}, socket_id="1.2") == {}
    path, query, body = sent(api.calls[0])
    assert path == "/apps/123/events"
    assert set(query) == {"auth_key", "auth_timestamp", "auth_version", "body_md5", "auth_signature"}
    assert body == {"name": "my-event", "channels": ["a", "b"], "data": '{"x":1}', "socket_id": "1.2"}
    headers = api.calls[0].request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("pushbridge/")


def test_one_pooled_session_is_reused(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", json={})
    backend = get_backend()
    pushbridge.trigger("a", "e", 1)
    session = backend.session
    pushbridge.trigger("a", "e", 2)
    assert backend.session is session
    assert len(api.calls) == 2


def test_batch_is_split_by_ten_in_order(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/batch_events", json={})
    events = [pushbridge.Event(f"c{i}", "e", {"i": i}) for i in range(22)]
    replies = pushbridge.trigger_batch(events)
    assert len(replies) == 3
    batches = [sent(call)[2]["batch"] for call in api.calls]
    assert [len(b) for b in batches] == [10, 10, 2]
    flat = [item for batch in batches for item in batch]
    assert [item["channel"] for item in flat] == [f"c{i}" for i in range(22)]
    assert flat[0] == {"channel": "c0", "name": "e", "data": '{"i":0}'}


def test_multi_channel_events_go_alone_in_one_events_request(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/batch_events", json={})
    api.post(f"{BASE}/apps/123/events", json={})
    many = [f"c{i}" for i in range(100)]
    events = [
        pushbridge.Event("x", "e", 0),
        pushbridge.Event("y", "e", 1),
        pushbridge.Event(many, "all", 2, socket_id="3.4"),
        pushbridge.Event("z", "f", 3),
    ]
    pushbridge.trigger_batch(events)
    requests_sent = [sent(call) for call in api.calls]
    assert [path for path, _, _ in requests_sent] == [
        "/apps/123/batch_events",
        "/apps/123/events",
        "/apps/123/events",
    ]
    assert [item["channel"] for item in requests_sent[0][2]["batch"]] == ["x", "y"]
    assert requests_sent[1][2] == {"name": "all", "channels": many, "data": "2", "socket_id": "3.4"}
    assert requests_sent[2][2] == {"name": "f", "channels": ["z"], "data": "3"}


def test_encrypted_payload_is_checked_at_its_sealed_size_before_sending(api: responses.RequestsMock) -> None:
    with pytest.raises(PayloadTooLarge, match="for channel 'private-encrypted-x' is 12"):
        pushbridge.trigger("private-encrypted-x", "e", "x" * 9000)  # fits in 10 KB plain, not sealed
    assert len(api.calls) == 0


def test_hash_channels_cannot_be_queried(api: responses.RequestsMock) -> None:
    with pytest.raises(InvalidChannel, match="cannot be queried"):
        pushbridge.channel_info("#server-to-user-5")
    assert len(api.calls) == 0


def test_other_request_failures_are_pushbridge_errors(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", body=requests.exceptions.ChunkedEncodingError("broken chunk"))
    with pytest.raises(pushbridge.PushbridgeError, match="broken chunk"):
        pushbridge.trigger("c", "e", 1)
    assert len(api.calls) == 1


def test_invalid_event_in_a_batch_sends_nothing(api: responses.RequestsMock) -> None:
    events = [pushbridge.Event("a", "e", 1), pushbridge.Event("b", "e", "x" * 20000)]
    with pytest.raises(PayloadTooLarge, match="for channel 'b' is 20000 bytes"):
        pushbridge.trigger_batch(events)
    assert len(api.calls) == 0


def test_invalid_trigger_sends_nothing(api: responses.RequestsMock) -> None:
    with pytest.raises(pushbridge.PushbridgeError):
        pushbridge.trigger("bad channel", "e", 1)
    with pytest.raises(PayloadTooLarge):
        pushbridge.trigger("c", "e", "x" * 10241)
    assert len(api.calls) == 0


def test_encrypted_channel_data_is_sealed(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", json={})
    pushbridge.trigger("private-encrypted-orders", "paid", {"total": 5})
    data = sent(api.calls[0])[2]["data"]
    assert set(json.loads(data)) == {"nonce", "ciphertext"}
    opened = crypto.decrypt("private-encrypted-orders", data, crypto.parse_master_key(MASTER_KEY))
    assert json.loads(opened) == {"total": 5}


def test_encrypted_channel_without_master_key(api: responses.RequestsMock) -> None:
    entry = {k: v for k, v in SETTINGS["default"].items() if k != "ENCRYPTION_MASTER_KEY"}
    with (
        override_settings(PUSHBRIDGE={"default": entry}),
        pytest.raises(
            ConfigurationError, match=r"'private-encrypted-x' is end-to-end encrypted, but .*ENCRYPTION_MASTER_KEY"
        ),
    ):
        pushbridge.trigger("private-encrypted-x", "e", 1)
    assert len(api.calls) == 0


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(api: responses.RequestsMock, status: int) -> None:
    url = f"{BASE}/apps/123/events"
    api.post(url, json={"error": "busy"}, status=status)
    api.post(url, json={})
    assert pushbridge.trigger("c", "e", 1) == {}
    assert len(api.calls) == 2
    # each attempt is signed afresh
    for call in api.calls:
        sent(call)


def test_retries_are_bounded_and_error_carries_status_and_message(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", json={"error": "Over quota, slow down"}, status=429)
    with pytest.raises(RateLimited) as info:
        pushbridge.trigger("c", "e", 1)
    assert len(api.calls) == 3  # first try + RETRIES=2
    assert info.value.status == 429
    assert info.value.message == "Over quota, slow down"
    assert "HTTP 429" in str(info.value)


def test_server_error_text_body(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", body="upstream exploded", status=500)
    with pytest.raises(ServerError, match="upstream exploded"):
        pushbridge.trigger("c", "e", 1)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequest), (401, AuthenticationFailed), (403, Forbidden), (404, NotFound),
     (413, RequestTooLarge)],
)  # fmt: skip
def test_other_4xx_never_retried(api: responses.RequestsMock, status: int, error: type[Exception]) -> None:
    api.post(f"{BASE}/apps/123/events", body="Invalid signature", status=status)
    with pytest.raises(error, match="Invalid signature") as info:
        pushbridge.trigger("c", "e", 1)
    assert len(api.calls) == 1
    assert getattr(info.value, "status", None) == status


def test_connection_errors_retried_then_raised(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(BackendUnavailable, match="Could not connect: refused") as info:
        pushbridge.trigger("c", "e", 1)
    assert len(api.calls) == 3
    assert info.value.status is None


def test_connection_error_then_success(api: responses.RequestsMock) -> None:
    url = f"{BASE}/apps/123/events"
    api.post(url, body=requests.exceptions.ConnectTimeout("slow connect"))
    api.post(url, json={})
    assert pushbridge.trigger("c", "e", 1) == {}


def test_read_timeout_is_not_retried(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", body=requests.exceptions.ReadTimeout("no reply"))
    with pytest.raises(BackendUnavailable, match="not retried"):
        pushbridge.trigger("c", "e", 1)
    assert len(api.calls) == 1


def test_retry_after_is_honoured(api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("pushbridge.dispatch.retry.time.sleep", waits.append)
    url = f"{BASE}/apps/123/events"
    api.post(url, status=429, headers={"Retry-After": "0.005"})
    api.post(url, json={})
    pushbridge.trigger("c", "e", 1)
    assert waits == [0.005]


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(retries=5, backoff=0.1, backoff_max=1.0)
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (5, 1.0)]:
        delays = [policy.delay(attempt, None) for _ in range(200)]
        assert min(delays) >= 0
        assert max(delays) <= ceiling
    assert policy.delay(0, 30) == 1.0  # Retry-After is honoured up to the longest wait


def test_the_backend_sends_once_and_classifies(api: responses.RequestsMock) -> None:
    """Retries belong to dispatch.retry: the backend itself never loops or sleeps."""
    url = f"{BASE}/apps/123/events"
    api.post(url, status=503, headers={"Retry-After": "7"}, json={"error": "restarting"})
    with pytest.raises(ServerError) as info:
        get_backend().trigger(pushbridge.Event("c", "e", 1))
    assert len(api.calls) == 1
    assert info.value.retryable is True
    assert info.value.retry_after == 7.0
    api.post(url, status=400, json={"error": "bad"})
    with pytest.raises(BadRequest) as refused:
        get_backend().trigger(pushbridge.Event("c", "e", 1))
    assert refused.value.retryable is False


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


def test_channels_query(api: responses.RequestsMock) -> None:
    api.get(f"{BASE}/apps/123/channels", json={"channels": {"presence-a": {"user_count": 2}}})
    assert pushbridge.channels(prefix="presence-", info="user_count") == {"presence-a": {"user_count": 2}}
    _, query, _ = sent(api.calls[0])
    assert (query["filter_by_prefix"], query["info"], query["body_md5"]) == (
        "presence-",
        "user_count",
        signing.EMPTY_BODY_MD5,
    )


def test_channel_info_query(api: responses.RequestsMock) -> None:
    api.get(f"{BASE}/apps/123/channels/presence-a", json={"occupied": True, "user_count": 2})
    reply = pushbridge.channel_info("presence-a", info=["user_count", "subscription_count"])
    assert reply == {"occupied": True, "user_count": 2}
    assert sent(api.calls[0])[1]["info"] == "user_count,subscription_count"


def test_channel_users_query(api: responses.RequestsMock) -> None:
    api.get(f"{BASE}/apps/123/channels/presence-a/users", json={"users": [{"id": "1"}, {"id": 2}]})
    assert pushbridge.channel_users("presence-a") == ["1", "2"]


def test_channel_users_needs_presence() -> None:
    with pytest.raises(InvalidChannel, match="needs a presence- channel"):
        pushbridge.channel_users("private-a")


def test_terminate_user_connections(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/users/42/terminate_connections", json={})
    pushbridge.terminate_user_connections(42)
    path, _, body = sent(api.calls[0])
    assert (path, body) == ("/apps/123/users/42/terminate_connections", {})


def test_send_to_user(api: responses.RequestsMock) -> None:
    api.post(f"{BASE}/apps/123/events", json={})
    pushbridge.send_to_user("u1", "notice", {"n": 1})
    assert sent(api.calls[0])[2]["channels"] == ["#server-to-user-u1"]


def test_base_backend_queries_are_unsupported() -> None:
    with pytest.raises(UnsupportedOperation, match=r"BaseBackend does not support channels\(\)"):
        BaseBackend(get_config("memory")).channels()
