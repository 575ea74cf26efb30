"""End-to-end encryption: Pusher SDK test vectors, and interop with the official SDK."""

from __future__ import annotations

import base64
import json

import pusher.crypto as sdk_crypto
import pytest

from pushbridge import crypto
from pushbridge.errors import EncryptionError

S6_MASTER_KEY = b"OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"  # used raw, as the SDK test does
S6_CHANNEL = "pvUPIk0YG6MnxCEMIUUVFrbDmQwbhICXUcy"


def test_s2_shared_secret() -> None:
    master = crypto.parse_master_key("OHRXNUZRTG5pUTFzQlFGd3J3N3Q2VFZFc0paZDEweVk=")
    assert crypto.shared_secret("private-encrypted-channel", master) == "VmIsNZtCSteh8kazd2toc+ofhohBtUouQRSDtRvuyVI="


def test_s6_channel_key() -> None:
    expected = bytes.fromhex("709ef3090a24bfa98382cb5d025ca3622c82d31fa27f10b005c0dca27bae6516")
    assert crypto.channel_key(S6_CHANNEL, S6_MASTER_KEY) == expected


def test_s7_secretbox() -> None:
    sealed = json.loads(
        crypto.encrypt(S6_CHANNEL, "kkkT5OOkOkO5kT5TOO5TkOT5TTk5O55T", S6_MASTER_KEY, nonce=b"XAJI0Y6DPBHSAHXTHV3A3ZMF")
    )
    assert sealed == {
        "nonce": "WEFKSTBZNkRQQkhTQUhYVEhWM0EzWk1G",
        "ciphertext": "tsYJa2JgGDOpVIYFe4aNVWAvZlpB7z7CjN9mpIdbATE0Yc4izN8aM8D6VigBxnIQ",
    }


def test_we_open_what_the_sdk_seals() -> None:
    master = bytes(range(32))
    channel = "private-encrypted-orders"
    sealed = sdk_crypto.encrypt(channel, json.dumps({"total": "9.99"}), master)
    envelope = json.dumps({k: v.decode() if isinstance(v, bytes) else v for k, v in sealed.items()})
    assert json.loads(crypto.decrypt(channel, envelope, master)) == {"total": "9.99"}


def test_round_trip_and_fresh_nonces() -> None:
    master = bytes(32)
    first = crypto.encrypt("private-encrypted-a", "héllo", master)
    second = crypto.encrypt("private-encrypted-a", "héllo", master)
    assert first != second
    assert crypto.decrypt("private-encrypted-a", first, master) == "héllo"


def test_wrong_channel_cannot_open() -> None:
    sealed = crypto.encrypt("private-encrypted-a", "secret", bytes(32))
    with pytest.raises(EncryptionError, match="wrong key or tampered"):
        crypto.decrypt("private-encrypted-b", sealed, bytes(32))


def test_garbage_envelope() -> None:
    with pytest.raises(EncryptionError, match="not a nonce/ciphertext envelope"):
        crypto.decrypt("private-encrypted-a", "{}", bytes(32))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "decodes to 5 bytes; it must be 32"),
    ],
)
def test_master_key_errors_name_the_setting(value: str, message: str) -> None:
    with pytest.raises(EncryptionError, match=message) as info:
        crypto.parse_master_key(value)
    assert "ENCRYPTION_MASTER_KEY" in str(info.value)


def test_bad_nonce_length() -> None:
    with pytest.raises(EncryptionError, match="Nonce is 3 bytes"):
        crypto.encrypt("private-encrypted-a", "x", bytes(32), nonce=b"abc")
