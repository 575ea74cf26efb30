"""End-to-end encryption for ``private-encrypted-`` channels, compatible with Pusher's scheme.

Each encrypted channel has its own 32-byte key, ``SHA256(channel_name || master_key)``. The
server never sees it: the auth endpoint hands it to the browser as ``shared_secret`` (base64),
and the event's ``data`` travels as ``{"nonce": b64, "ciphertext": b64}``, sealed with NaCl's
``secretbox`` (XSalsa20-Poly1305). pusher-js opens it with tweetnacl.

PyNaCl is an optional extra (``pip install pushbridge[encryption]``); it is imported only when
an encrypted event is actually sealed or opened. Deriving the channel key needs only hashlib.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from pushbridge.errors import EncryptionError

MASTER_KEY_BYTES = 32
NONCE_BYTES = 24


def parse_master_key(value: str | bytes, *, setting: str = "ENCRYPTION_MASTER_KEY") -> bytes:
    """Decode a base64 master key and check it is 32 bytes; name ``setting`` in errors."""
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionError(f"{setting} is not valid base64 (got {len(value)} characters).") from None
    if len(key) != MASTER_KEY_BYTES:
        raise EncryptionError(
            f"{setting} decodes to {len(key)} bytes; it must be {MASTER_KEY_BYTES} bytes "
            "(generate one with: openssl rand -base64 32)."
        )
    return key


def sealed_size(plain_bytes: int) -> int:
    """Bytes of the data an encrypted event carries for ``plain_bytes`` of plaintext.

    ``{"nonce":"<32 base64 chars>","ciphertext":"<base64 of plaintext + 16-byte MAC>"}``,
    computed without sealing, so that size limits can be checked before any encryption.
    """
    return len('{"nonce":"","ciphertext":""}') + 32 + 4 * -(-(plain_bytes + 16) // 3)


def channel_key(channel: str, master_key: bytes) -> bytes:
    """Return the 32-byte key of one encrypted channel."""
    return hashlib.sha256(channel.encode("utf-8") + master_key).digest()


def shared_secret(channel: str, master_key: bytes) -> str:
    """Return the channel key as base64 text, the ``shared_secret`` of an auth reply."""
    return base64.b64encode(channel_key(channel, master_key)).decode("ascii")


def _secret_box(key: bytes) -> Any:
    try:
        import nacl.secret
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise EncryptionError("Encrypted channels need PyNaCl: pip install 'pushbridge[encryption]'.") from None
    return nacl.secret.SecretBox(key)


def encrypt(channel: str, data: str, master_key: bytes, *, nonce: bytes | None = None) -> str:
    """Seal ``data`` for ``channel`` and return the JSON text that travels as event data."""
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise EncryptionError(f"Nonce is {len(nonce)} bytes; it must be {NONCE_BYTES}.")
    sealed = _secret_box(channel_key(channel, master_key)).encrypt(data.encode("utf-8"), nonce)
    return json.dumps(
        {
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "ciphertext": base64.b64encode(sealed.ciphertext).decode("ascii"),
        },
        separators=(",", ":"),
    )


def decrypt(channel: str, data: str, master_key: bytes) -> str:
    """Open event data sealed by :func:`encrypt` (or by Pusher's SDKs) and return the text."""
    try:
        envelope = json.loads(data)
        nonce = base64.b64decode(envelope["nonce"])
        ciphertext = base64.b64decode(envelope["ciphertext"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise EncryptionError(f"Encrypted data for {channel!r} is not a nonce/ciphertext envelope: {exc}") from None
    box = _secret_box(channel_key(channel, master_key))  # raises EncryptionError without PyNaCl
    import nacl.exceptions

    try:
        plain = box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise EncryptionError(f"Could not decrypt data for {channel!r}: wrong key or tampered data.") from None
    return bytes(plain).decode("utf-8")
