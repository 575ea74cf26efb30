"""authenticate_channel / authenticate_user / verify_webhook, checked by the official SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pusher
import pytest
from django.test import override_settings

import pushbridge
from pushbridge import signing
from pushbridge.errors import (
    ConfigurationError,
    InvalidChannel,
    InvalidSocketId,
    ValidationError,
    WebhookVerificationError,
)

MASTER_KEY = "OHRXNUZRTG5pUTFzQlFGd3J3N3Q2VFZFc0paZDEweVk="


@pytest.fixture(autouse=True)
def credentials() -> Iterator[None]:
    entry = {"BACKEND": "memory", "KEY": "foo", "SECRET": "bar", "ENCRYPTION_MASTER_KEY": MASTER_KEY}
    with override_settings(PUSHBRIDGE={"default": entry}):
        yield


@pytest.fixture
def sdk() -> pusher.Pusher:
    return pusher.Pusher(app_id="1", key="foo", secret="bar", encryption_master_key_base64=MASTER_KEY)


def test_private_channel_s1() -> None:
    assert pushbridge.authenticate_channel("345.23", "private-channel") == {
        "auth": "foo:89955e77e1b40e33df6d515a5ecbba86a01dc816a5b720da18a06fd26f7d92ff"
    }


def test_encrypted_channel_s2_shared_secret_is_text() -> None:
    reply = pushbridge.authenticate_channel("345.23", "private-encrypted-channel")
    assert reply == {
        "auth": "foo:fff0503dfe4929f5162efe4d1dacbce524b0d8e7e1331117a8651c0e74d369e3",
        "shared_secret": "VmIsNZtCSteh8kazd2toc+ofhohBtUouQRSDtRvuyVI=",
    }
    json.dumps(reply)  # JSON-ready, unlike the SDK's bytes


def test_encrypted_matches_sdk(sdk: pusher.Pusher) -> None:
    theirs = sdk.authenticate(channel="private-encrypted-x", socket_id="1.1")
    ours = pushbridge.authenticate_channel("1.1", "private-encrypted-x")
    assert ours["auth"] == theirs["auth"]
    assert ours["shared_secret"] == theirs["shared_secret"].decode()


def test_presence_channel_data_is_signed() -> None:
    reply = pushbridge.authenticate_channel("1.2", "presence-room", user_id=7, user_info={"name": "Ann"})
    assert reply["channel_data"] == '{"user_id":"7","user_info":{"name":"Ann"}}'
    signing.verify_token("foo", "bar", reply["auth"], f"1.2:presence-room:{reply['channel_data']}")


def test_presence_needs_user_id() -> None:
    with pytest.raises(ValidationError, match="'presence-room' needs a user_id"):
        pushbridge.authenticate_channel("1.2", "presence-room")


def test_presence_member_size_limit() -> None:
    with pytest.raises(ValidationError, match=r"is \d+ bytes; the limit is 1024 bytes"):
        pushbridge.authenticate_channel("1.2", "presence-room", user_id=1, user_info={"bio": "x" * 1100})


def test_public_channel_needs_no_auth() -> None:
    with pytest.raises(InvalidChannel, match="is public"):
        pushbridge.authenticate_channel("1.2", "news")


def test_bad_socket_id() -> None:
    with pytest.raises(InvalidSocketId):
        pushbridge.authenticate_channel("nope", "private-x")


def test_encrypted_without_master_key() -> None:
    with (
        override_settings(PUSHBRIDGE={"default": {"BACKEND": "memory"}}),
        pytest.raises(ConfigurationError, match="ENCRYPTION_MASTER_KEY"),
    ):
        pushbridge.authenticate_channel("1.2", "private-encrypted-x")


def test_user_authentication_matches_sdk(sdk: pusher.Pusher) -> None:
    ours = pushbridge.authenticate_user("12345.6789", {"id": "123", "user_info": {"name": "Ann"}})
    theirs = sdk.authenticate_user("12345.6789", {"id": "123", "user_info": {"name": "Ann"}})
    assert json.loads(ours["user_data"]) == json.loads(theirs["user_data"])
    signing.verify_token("foo", "bar", ours["auth"], signing.user_string_to_sign("12345.6789", ours["user_data"]))


def test_user_authentication_needs_id() -> None:
    with pytest.raises(ValidationError, match="must be a dict with an 'id'"):
        pushbridge.authenticate_user("1.2", {"name": "x"})


def _webhook(age_s: float = 0) -> tuple[str, str]:
    body = json.dumps({"time_ms": int((time.time() - age_s) * 1000), "events": [{"name": "channel_occupied"}]})
    return body, signing.sign_webhook("bar", body)


def test_verify_webhook_returns_payload() -> None:
    body, signature = _webhook()
    assert pushbridge.verify_webhook("foo", signature, body.encode())["events"] == [{"name": "channel_occupied"}]


@pytest.mark.parametrize(
    ("key", "signature", "body", "message"),
    [
        ("other", None, None, "X-Pusher-Key 'other' is not this app's key"),
        ("foo", "0" * 64, None, "does not match the body"),
        ("foo", None, "not json", "not JSON"),
        ("foo", None, json.dumps({"time_ms": 1}), "no 'events' list"),
        ("foo", None, json.dumps({"events": []}), "time_ms None is not a number"),
        ("foo", None, json.dumps({"events": [], "time_ms": 1000}), "old; the limit is 300 s"),
    ],
)
def test_verify_webhook_failures(key: str, signature: str | None, body: str | None, message: str) -> None:
    good_body, _ = _webhook()
    body = body or good_body
    signature = signature or signing.sign_webhook("bar", body)
    with pytest.raises(WebhookVerificationError, match=message):
        pushbridge.verify_webhook(key, signature, body)


def test_verify_webhook_without_age_check() -> None:
    body = json.dumps({"events": [], "time_ms": 1000})
    assert pushbridge.verify_webhook("foo", signing.sign_webhook("bar", body), body, max_age=None) == {
        "events": [],
        "time_ms": 1000,
    }
