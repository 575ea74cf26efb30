"""One exception hierarchy for everything pushbridge raises.

Every error derives from :class:`PushbridgeError`, so ``except pushbridge.PushbridgeError``
catches anything the library can throw. Messages name the offending value and, where a limit
was crossed, the limit itself: the reader of a traceback should not need to open the source.

This module imports nothing from Django and does no I/O.
"""

from __future__ import annotations


class PushbridgeError(Exception):
    """Base class of every pushbridge error."""


class ConfigurationError(PushbridgeError):
    """A setting (``PUSHBRIDGE``, ``PUSHBRIDGE_URL``) is missing or malformed."""


class ValidationError(PushbridgeError, ValueError):
    """An event, channel, name or id breaks a protocol rule or a limit.

    Raised before anything leaves the process: an invalid event is never sent.
    """


class InvalidChannel(ValidationError):
    """A channel name has bad characters, is too long, or is used where it is not allowed."""


class InvalidEventName(ValidationError):
    """An event name is empty, too long, or uses a prefix reserved to the service."""


class InvalidSocketId(ValidationError):
    """A socket id is not of the form ``123.456``."""


class InvalidUserId(ValidationError):
    """A user id is empty, too long, or has characters a channel name cannot hold."""


class PayloadTooLarge(ValidationError):
    """The encoded ``data`` of an event is larger than the backend accepts."""


class TooManyChannels(ValidationError):
    """One trigger names more channels than the service accepts at once."""


class NotSerializable(ValidationError, TypeError):
    """The event data cannot be encoded as JSON."""


class EncryptionError(PushbridgeError):
    """End-to-end encryption cannot be done (no master key, PyNaCl missing, bad ciphertext)."""


class SignatureError(PushbridgeError):
    """A signature, an auth token or a signed request did not verify.

    ``reason`` says which check failed, so that a 401 reply or a log line can explain it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookVerificationError(SignatureError):
    """A webhook's key, signature, body or age did not check out."""


class BackendError(PushbridgeError):
    """A backend could not do what was asked.

    ``status`` is the HTTP status when the service answered (``None`` when it never did),
    ``message`` the service's own explanation, ``backend`` the alias it was sent through.
    ``retryable`` says whether sending the same request again may succeed without delivering
    twice (an outage, a 429 or a 5xx: yes; a bad request or an unanswered one: no).
    ``retry_after`` is the service's ``Retry-After`` in seconds, when it sent one. Backends
    only classify; ``pushbridge.dispatch.retry`` decides whether and when to try again.
    """

    retryable = False
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        backend: str | None = None,
        url: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after
        self.message = message
        self.status = status
        self.backend = backend
        self.url = url
        parts = []
        if backend:
            parts.append(f"backend {backend!r}")
        if status is not None:
            parts.append(f"HTTP {status}")
        if url:
            parts.append(url)
        prefix = f"[{', '.join(parts)}] " if parts else ""
        super().__init__(f"{prefix}{message}")


class BackendUnavailable(BackendError):
    """The service could not be reached (connection refused, DNS failure, timeout)."""

    retryable = True


class BadRequest(BackendError):
    """HTTP 400: the service rejected the request as malformed."""


class AuthenticationFailed(BackendError):
    """HTTP 401: the key, secret or request signature was not accepted."""


class Forbidden(BackendError):
    """HTTP 403: the app is disabled or over its quota."""


class NotFound(BackendError):
    """HTTP 404: unknown app id or resource."""


class RequestTooLarge(BackendError):
    """HTTP 413: the service found the payload too large."""


class RateLimited(BackendError):
    """HTTP 429: the service asks us to slow down (retryable, honouring ``Retry-After``)."""

    retryable = True


class ServerError(BackendError):
    """HTTP 5xx: the service failed (retryable)."""

    retryable = True


class UnsupportedOperation(BackendError):
    """The backend cannot do this at all (a query on a backend that only sends)."""


#: HTTP status -> the error class that reports it; anything else is a plain BackendError.
ERROR_FOR_STATUS: dict[int, type[BackendError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: Forbidden,
    404: NotFound,
    413: RequestTooLarge,
    429: RateLimited,
}


def error_for_status(status: int) -> type[BackendError]:
    """Return the error class that describes an HTTP ``status`` from a Pusher-style API."""
    if status >= 500:
        return ServerError
    return ERROR_FOR_STATUS.get(status, BackendError)


def error_reported_in(reply: object, *, backend: str | None = None, url: str | None = None) -> BackendError | None:
    """The error that a *successful* (2xx) reply's body reports, if it reports one.

    Some servers answer errors with status 200 and put the error in the body: Soketi 1.6 replies
    ``{"error": "The secret authentication failed", "code": 401}``. Pusher's successful replies
    never carry an ``"error"`` key, so one means failure, raised as the class, ``.status`` and
    ``.message`` that the status in ``"code"`` would have given (so a reported 429 or 5xx is
    retryable like a real one). Without a usable ``code`` it is a plain, non-retryable
    :class:`BackendError` with no status: still an error, never a success.
    """
    if not isinstance(reply, dict) or not reply.get("error"):
        return None
    message = str(reply["error"])
    code = reply.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return error_for_status(code)(message, status=code, backend=backend, url=url)
    return BackendError(f"The service reported an error in a successful reply: {message}", backend=backend, url=url)
