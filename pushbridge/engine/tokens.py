"""Checking the auth tokens clients present (private and presence channels, sign-in)."""

from __future__ import annotations

from pushbridge.engine.config import AppConfig
from pushbridge.errors import SignatureError
from pushbridge.signing import verify_token


def verify(config: AppConfig, token: object, string_to_sign: str) -> None:
    """:func:`~pushbridge.signing.verify_token` for input that may hold lone surrogates.

    Such text cannot be encoded, so it cannot have been signed: a clear ``SignatureError``
    instead of a ``UnicodeEncodeError`` from deep inside HMAC.
    """
    try:
        verify_token(config.key, config.secret, token, string_to_sign)
    except UnicodeEncodeError:
        raise SignatureError(
            "Auth token or signed data holds a lone surrogate (an unpaired \\ud800-\\udfff escape); "
            "it cannot be verified."
        ) from None
