"""Signatures against Pusher's published worked examples and against the official SDK.

Vector ids (V1, S1, D1...) number the worked examples of Pusher's documentation: the HTTP API's
signed request (https://pusher.com/docs/channels/library_auth_reference/rest-api/), channel and
presence auth signatures (https://pusher.com/docs/channels/library_auth_reference/auth-signatures/)
and webhooks (https://pusher.com/docs/channels/server_api/webhooks/).
"""

from __future__ import annotations

import json
from unittest import mock

import pusher
import pytest

from pushbridge import signing
from pushbridge.errors import SignatureError

DOC_KEY, DOC_SECRET = "278d425bdf160c739803", "7ad3773142a6692b25b8"


# -- published vectors ----------------------------------------------------------------------


def test_v1_private_channel() -> None:
    assert signing.sign_channel(DOC_KEY, DOC_SECRET, "1234.1234", "private-foobar") == (
        f"{DOC_KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )


def test_v2_user_authentication() -> None:
    assert signing.sign_user(DOC_KEY, DOC_SECRET, "1234.1234", '{"id":"12345"}') == (
        f"{DOC_KEY}:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
    )


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        # The published digest belongs to the "Mr. Pusher" text (erratum in section 4.1).
        ("Mr. Pusher", "afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"),
        ("Mr. Channels", "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"),
    ],
)
def test_v3_presence_channel(name: str, digest: str) -> None:
    data = json.dumps({"user_id": 10, "user_info": {"name": name}}, separators=(",", ":"))
    assert signing.sign_channel(DOC_KEY, DOC_SECRET, "1234.1234", "presence-foobar", data) == f"{DOC_KEY}:{digest}"


@pytest.mark.parametrize(
    ("key", "secret", "socket_id", "channel", "data", "digest"),
    [
        ("foo", "bar", "345.23", "private-channel", None,
         "89955e77e1b40e33df6d515a5ecbba86a01dc816a5b720da18a06fd26f7d92ff"),
        ("foo", "bar", "345.23", "private-encrypted-channel", None,
         "fff0503dfe4929f5162efe4d1dacbce524b0d8e7e1331117a8651c0e74d369e3"),
        ("foo", "bar", "345.43245", "presence-channel", '{"user_id":"fred","user_info":{"key":"value"}}',
         "e80ba6439492c2113022c39297a87a948de14061cc67b5788e045645a68b8ccd"),
        ("key", "secret", "1.1", "presence-c1", '{"money": "1.32"}',
         "7f2ae5922800a20b9615543ce7c8e7d1c97115d108939410825ea690f308a05f"),
    ],
    ids=["S1", "S2", "S3", "S5"],
)  # fmt: skip
def test_sdk_suite_channel_vectors(key, secret, socket_id, channel, data, digest) -> None:  # type: ignore[no-untyped-def]
    assert signing.sign_channel(key, secret, socket_id, channel, data) == f"{key}:{digest}"


def test_s4_sdk_user_vector() -> None:
    token = signing.sign_user("thisisaauthkey", "thisisasecret", "12345.6789", '{"id":"123","name":"John Smith"}')
    assert token == "thisisaauthkey:0dddb208b53c7649f3fbbb86254a6e1986bc6f8b566423ea690c9ca773497373"


def test_v4_http_api_worked_example() -> None:
    body = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    query = signing.sign_request(DOC_KEY, DOC_SECRET, "POST", "/apps/3/events", body=body, timestamp=1353088179)
    assert query["body_md5"] == "ec365a775a4cd0599faeb73354201b6f"
    assert query["auth_signature"] == "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
    assert query["auth_version"] == "1.0"


def test_s8_s9_sdk_request_vectors() -> None:
    get = signing.sign_request("key", "secret", "GET", "/some/obscure/api", {"foo": "bar"}, timestamp=1000)
    assert get["body_md5"] == signing.EMPTY_BODY_MD5 == "d41d8cd98f00b204e9800998ecf8427e"
    assert get["auth_signature"] == "5c49f04a95eedc9028b1e0e8de7c2c7ad63504a0e3b5c145d2accaef6c14dbac"
    post = signing.sign_request("key", "secret", "POST", "/some/obscure/api", body=b'{"foo": "bar"}', timestamp=1000)
    assert post["body_md5"] == "94232c5b8fc9272f6f73a1e36eb68fcf"
    assert post["auth_signature"] == "e05fa4cafee86311746ee3981d5581a5e4e87c27bbab0aeb1059e2df5c90258b"


def test_d1_channels_query() -> None:
    query = signing.sign_request(
        DOC_KEY, DOC_SECRET, "GET", "/apps/3/channels", {"filter_by_prefix": "presence-", "info": "user_count"},
        timestamp=1353088179,
    )  # fmt: skip
    assert query["auth_signature"] == "f3f17c61ae491cc9085db68b22076e9b772e3bcb301659d655153ee3f9782aba"


def test_d2_webhook_signature() -> None:
    body = b'{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"my-channel"}]}'
    expected = "c19001ae3963ccb13bf618e5b16ba9848e7e74df0993aa0689168e341c6833cf"
    assert signing.sign_webhook(DOC_SECRET, body) == expected
    assert signing.verify_webhook_signature(DOC_SECRET, expected, body)
    assert not signing.verify_webhook_signature(DOC_SECRET, expected.upper(), body)
    assert not signing.verify_webhook_signature(DOC_SECRET, None, body)


def test_query_keys_lowercased_sorted_unescaped() -> None:
    text = signing.request_string_to_sign("post", "/x", {"Name": "Something else", "auth_key": "foo"})
    assert text == "POST\n/x\nauth_key=foo&name=Something else"


# -- the same inputs through the official SDK -------------------------------------------------


@pytest.fixture
def sdk() -> pusher.Pusher:
    return pusher.Pusher(app_id="3", key=DOC_KEY, secret=DOC_SECRET)


@pytest.mark.parametrize("channel", ["private-foobar", "private-encrypted-x", "private-a=b@c,d.e;f"])
def test_private_auth_matches_sdk(sdk: pusher.Pusher, channel: str) -> None:
    expected = sdk.authenticate(channel=channel, socket_id="1234.1234")["auth"] if "encrypted" not in channel else None
    if expected is None:  # the SDK wants a master key for encrypted channels
        sdk = pusher.Pusher(app_id="3", key=DOC_KEY, secret=DOC_SECRET, encryption_master_key_base64="A" * 43 + "=")
        expected = sdk.authenticate(channel=channel, socket_id="1234.1234")["auth"]
    assert signing.sign_channel(DOC_KEY, DOC_SECRET, "1234.1234", channel) == expected


def test_presence_auth_matches_sdk(sdk: pusher.Pusher) -> None:
    member = {"user_id": "42", "user_info": {"name": "Zoë", "n": 1}}
    reply = sdk.authenticate(channel="presence-room", socket_id="1.2", custom_data=member)
    ours = signing.sign_channel(DOC_KEY, DOC_SECRET, "1.2", "presence-room", reply["channel_data"])
    assert ours == reply["auth"]


def test_user_auth_matches_sdk(sdk: pusher.Pusher) -> None:
    reply = sdk.authenticate_user("1.2", {"id": "7", "user_info": {"name": "Ann"}})
    assert signing.sign_user(DOC_KEY, DOC_SECRET, "1.2", reply["user_data"]) == reply["auth"]


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("POST", lambda c: c.trigger.make_request(["project-3", "b"], "foo", {"some": "data"}, "1.1")),
        ("POST", lambda c: c.trigger_batch.make_request([{"channel": "a", "name": "e", "data": "x"}])),
        ("GET", lambda c: c.channels_info.make_request("presence-", ["user_count"])),
        ("GET", lambda c: c.channel_info.make_request("presence-x", ["user_count"])),
        ("GET", lambda c: c.users_info.make_request("presence-x")),
        ("POST", lambda c: c.terminate_user_connections.make_request("7")),
    ],
    ids=["trigger", "batch", "channels", "channel", "users", "terminate"],
)
def test_request_signature_matches_sdk(sdk: pusher.Pusher, method: str, call) -> None:  # type: ignore[no-untyped-def]
    with mock.patch("time.time", return_value=1353088179):
        request = call(sdk._pusher_client)
    assert request.method == method
    params = {k: v for k, v in request.query_params.items() if not k.startswith(("auth_", "body_md5"))}
    ours = signing.sign_request(DOC_KEY, DOC_SECRET, method, request.path, params, request.body, timestamp=1353088179)
    assert ours == request.query_params
    # ... and our verifier accepts what the SDK sent.
    signing.verify_request(DOC_KEY, DOC_SECRET, method, request.path, request.query_params, request.body,
                           now=1353088179 + 5)  # fmt: skip


def test_webhook_matches_sdk_validation(sdk: pusher.Pusher) -> None:
    import time

    body = json.dumps({"time_ms": int(time.time() * 1000), "events": [{"name": "channel_vacated", "channel": "c"}]})
    signature = signing.sign_webhook(DOC_SECRET, body)
    assert sdk.validate_webhook(DOC_KEY, signature, body) is not None


# -- verification failures name what failed -------------------------------------------------


def _signed(**overrides: str) -> tuple[dict[str, str], bytes]:
    body = b'{"name":"e","channels":["c"],"data":"{}"}'
    query = signing.sign_request("key", "secret", "POST", "/apps/1/events", body=body, timestamp=1000)
    query.update(overrides)
    return query, body


def test_verify_request_accepts_good_request() -> None:
    query, body = _signed()
    signing.verify_request("key", "secret", "POST", "/apps/1/events", query, body, now=1000)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda q, b: (dict(q, auth_key="other"), b), "Unknown auth_key 'other'"),
        (lambda q, b: ({k: v for k, v in q.items() if k != "auth_signature"}, b), "Missing query parameter"),
        (lambda q, b: (dict(q, auth_timestamp="1601"), b), "the limit is 600 s"),
        (lambda q, b: (dict(q, auth_timestamp="soon"), b), "not a whole number"),
        (lambda q, b: (dict(q, auth_version="2.0"), b), "Unsupported auth_version"),
        (lambda q, b: (q, b + b" "), "does not match the body's MD5"),
        (lambda q, b: (dict(q, auth_signature="0" * 64), b), "Invalid auth_signature"),
        (lambda q, b: (dict(q, extra="1"), b), "Invalid auth_signature"),
    ],
    ids=["key", "missing", "stale", "timestamp-text", "version", "md5", "signature", "extra-param"],
)
def test_verify_request_failures(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    query, body = mutate(*_signed())
    with pytest.raises(SignatureError, match=message):
        signing.verify_request("key", "secret", "POST", "/apps/1/events", query, body, now=1000)


def test_verify_request_tries_each_path_spelling() -> None:
    query = signing.sign_request("key", "secret", "GET", "/apps/1/channels/a@b", timestamp=1000)
    signing.verify_request("key", "secret", "GET", ("/apps/1/channels/a%40b", "/apps/1/channels/a@b"), query, b"",
                           now=1000)  # fmt: skip


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("nocolon", "not of the form"),
        (None, "not of the form"),
        ("other:abc", "signed for app key 'other'"),
        ("key:abc", "Invalid signature"),
    ],
)
def test_verify_token_failures(token: object, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        signing.verify_token("key", "secret", token, "1.1:private-x")


def test_verify_token_accepts_good_token() -> None:
    signing.verify_token("key", "secret", signing.sign_channel("key", "secret", "1.1", "private-x"), "1.1:private-x")
