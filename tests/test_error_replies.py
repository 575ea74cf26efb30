"""A 2xx reply whose body reports an error is that error (Soketi answers every error with 200).

The same body is answered once with its real status and once with 200: both must raise the same
class with the same ``.status`` and ``.message``, and be retried (or not) by the same rule, in
sync mode and in background mode. The real Soketi behind these shapes is exercised in
``tests/soketi``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from pytest_httpserver import HTTPServer

import pushbridge
from pushbridge import dispatch
from pushbridge.errors import (
    AuthenticationFailed,
    BackendError,
    BadRequest,
    NotFound,
    RateLimited,
    RequestTooLarge,
    ServerError,
    error_reported_in,
)
from pushbridge.signals import dispatch_failed

EVENTS = "/apps/app-id/events"
FAST = {"retry_backoff": 0.001, "retry_backoff_max": 0.002}

# Soketi 1.6.1's own error bodies.
SOKETI_ERRORS = [
    (400, BadRequest, "Cannot batch-send more than 10 messages at once"),
    (401, AuthenticationFailed, "The secret authentication failed"),
    (404, NotFound, "The app nope could not be found."),
    (413, RequestTooLarge, "The event data should be less than 100 KB."),
]


def soketi(port: int, **extra: Any) -> override_settings:
    entry = {"BACKEND": "soketi", "PORT": port, "RETRIES": 2, "OPTIONS": FAST, **extra}
    return override_settings(PUSHBRIDGE={"default": entry})


@pytest.fixture
def api(api_server: HTTPServer) -> Iterator[HTTPServer]:
    with soketi(api_server.port):
        yield api_server


def raised(api: HTTPServer, status: int, body: dict[str, Any]) -> BackendError:
    api.expect_request(EVENTS, method="POST").respond_with_json(body, status=status)
    with pytest.raises(BackendError) as caught:
        pushbridge.trigger("c", "e", 1)
    api.clear()
    return caught.value


@pytest.mark.parametrize(("code", "error", "message"), SOKETI_ERRORS)
def test_error_in_a_200_body_is_the_error_its_code_names(
    api: HTTPServer, code: int, error: type[BackendError], message: str
) -> None:
    body = {"error": message, "code": code}
    real = raised(api, code, body)
    reported = raised(api, 200, body)
    assert type(reported) is type(real) is error
    assert (reported.status, reported.message, reported.retryable) == (real.status, real.message, real.retryable)
    assert (reported.status, reported.message) == (code, message)


def test_client_errors_in_a_200_body_are_not_retried(api: HTTPServer) -> None:
    api.expect_request(EVENTS).respond_with_json({"error": "The secret authentication failed", "code": 401})
    with pytest.raises(AuthenticationFailed):
        pushbridge.trigger("c", "e", 1)
    assert len(api.log) == 1


@pytest.mark.parametrize(("code", "error"), [(429, RateLimited), (500, ServerError), (503, ServerError)])
def test_retryable_codes_in_a_200_body_are_retried_then_raised(
    api: HTTPServer, code: int, error: type[BackendError]
) -> None:
    api.expect_request(EVENTS).respond_with_json({"error": "Too many requests.", "code": code})
    with pytest.raises(error) as caught:
        pushbridge.trigger("c", "e", 1)
    assert len(api.log) == 3  # the first try and RETRIES=2
    assert caught.value.retryable
    assert caught.value.status == code


def test_a_reported_rate_limit_then_success_delivers(api: HTTPServer) -> None:
    api.expect_ordered_request(EVENTS).respond_with_json({"error": "Too many requests.", "code": 429})
    api.expect_ordered_request(EVENTS).respond_with_json({})
    assert pushbridge.trigger("c", "e", 1) == {}
    assert len(api.log) == 2


def test_queries_raise_instead_of_answering_empty(api: HTTPServer) -> None:
    api.expect_request("/apps/app-id/channels", method="GET").respond_with_json(
        {"error": "The secret authentication failed", "code": 401}
    )
    with pytest.raises(AuthenticationFailed, match="secret authentication failed"):
        pushbridge.channels()


def test_an_error_without_a_code_is_still_an_error() -> None:
    error = error_reported_in({"error": "broken"}, backend="default")
    assert type(error) is BackendError
    assert error.status is None
    assert not error.retryable
    assert "broken" in str(error)


@pytest.mark.parametrize("reply", [{}, {"channels": {}}, {"occupied": False}, {"error": ""}, [], "ok", None])
def test_successful_replies_report_no_error(reply: object) -> None:
    assert error_reported_in(reply) is None


def test_background_mode_counts_and_announces_reported_errors(api_server: HTTPServer) -> None:
    seen: list[BaseException] = []

    def receiver(sender: str, error: BaseException, **kwargs: Any) -> None:
        seen.append(error)

    dispatch_failed.connect(receiver)
    try:
        with soketi(api_server.port, DISPATCH="background", RETRIES=0):
            api_server.expect_request(EVENTS).respond_with_json(
                {"error": "The secret authentication failed", "code": 401}
            )
            pushbridge.trigger("c", "e", 1)
            assert pushbridge.flush(timeout=10)
            stats = dispatch.stats()["default"]
            assert (stats.sent, stats.failed) == (0, 1)
    finally:
        dispatch_failed.disconnect(receiver)
        dispatch.shutdown()
    [error] = seen
    assert isinstance(error, AuthenticationFailed)
    assert error.status == 401
