"""Background dispatch: enqueue only, batches of 10, retries, bounded queue, flush at exit."""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import pushbridge
from pushbridge import dispatch
from pushbridge.backends.transport import Transport
from pushbridge.dispatch import retry
from pushbridge.errors import InvalidChannel
from pushbridge.signals import dispatch_failed
from tests.collector import run_against_collector
from tests.http_service import refused_port

FAST = {"retry_backoff": 0.001, "retry_backoff_max": 0.002}


def background(port: int, **extra: Any) -> override_settings:
    entry = {"BACKEND": "soketi", "PORT": port, "DISPATCH": "background", "OPTIONS": FAST, **extra}
    return override_settings(PUSHBRIDGE={"default": entry})


@pytest.fixture(autouse=True)
def stop_senders() -> Iterator[None]:
    yield
    dispatch.shutdown()


@pytest.fixture
def failures() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: str, **kwargs: Any) -> None:
        seen.append({"sender": sender, **kwargs})

    dispatch_failed.connect(receiver)
    yield seen
    dispatch_failed.disconnect(receiver)


def bodies(api: HTTPServer) -> list[tuple[str, Any]]:
    return [(request.path, json.loads(request.get_data())) for request, _ in api.log]


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The target of every request the backend tries, connected or not (the real transport sends it)."""
    tried: list[str] = []
    request = Transport.request

    def counted(self: Transport, method: str, target: str, **kwargs: Any) -> Any:
        tried.append(target)
        return request(self, method, target, **kwargs)

    monkeypatch.setattr(Transport, "request", counted)
    return tried


def test_trigger_only_enqueues_and_batches_by_ten(api_server: HTTPServer) -> None:
    # Whether the sender catches the first event alone (an /events request) depends on timing.
    api = api_server
    with background(api.port):
        api.expect_request("/apps/app-id/batch_events", method="POST").respond_with_json({})
        api.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
        for i in range(25):
            assert pushbridge.trigger(f"c{i}", "e", {"i": i}) == {}
        assert pushbridge.flush(timeout=10)
        sent = bodies(api)
        assert dispatch.stats()["default"].sent == 25
    items = []
    for path, body in sent:
        if path.endswith("/batch_events"):
            assert len(body["batch"]) <= 10
            items.extend(item["channel"] for item in body["batch"])
        else:
            items.extend(body["channels"])
    assert items == [f"c{i}" for i in range(25)]
    assert len(sent) < 25  # batched, not one request per event


def test_multi_channel_event_goes_in_one_events_request(api_server: HTTPServer) -> None:
    api = api_server
    with background(api.port):
        api.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
        pushbridge.trigger(["a", "b", "c"], "e", 1)
        assert pushbridge.flush(timeout=10)
        assert bodies(api) == [("/apps/app-id/events", {"name": "e", "channels": ["a", "b", "c"], "data": "1"})]


def test_invalid_event_still_raises_in_the_caller() -> None:
    with background(refused_port()), pytest.raises(InvalidChannel):
        pushbridge.trigger("bad channel", "e", 1)


def test_outage_never_raises_and_is_announced(failures: list[dict[str, Any]], attempts: list[str]) -> None:
    with background(refused_port()):
        pushbridge.trigger("c", "e", {"n": 1})  # must not raise
        assert pushbridge.flush(timeout=10)
        # one owner of retries: the backend sends once per attempt, nothing nests
        assert len(attempts) == 1 + retry.DEFAULTS["background"][0]
        assert dispatch.stats()["default"].failed == 1
    [failure] = failures
    assert failure["sender"] == "default"
    assert failure["dropped"] is False
    assert "refused" in str(failure["error"])
    assert [e.channels for e in failure["events"]] == [("c",)]


def test_outage_then_recovery_delivers(api_server: HTTPServer) -> None:
    api = api_server
    with background(api.port):
        for _ in range(2):
            api.expect_ordered_request("/apps/app-id/events").respond_with_json({"error": "restarting"}, status=503)
        api.expect_ordered_request("/apps/app-id/events").respond_with_json({})
        pushbridge.trigger("c", "e", 1)
        assert pushbridge.flush(timeout=10)
        assert dispatch.stats()["default"].sent == 1
    assert [response.status_code for _, response in api.log] == [503, 503, 200]


def test_client_errors_are_not_retried(failures: list[dict[str, Any]], api_server: HTTPServer) -> None:
    api = api_server
    with background(api.port):
        api.expect_request("/apps/app-id/events").respond_with_json({"error": "Invalid signature"}, status=401)
        pushbridge.trigger("c", "e", 1)
        assert pushbridge.flush(timeout=10)
        assert len(api.log) == 1
    assert "Invalid signature" in str(failures[0]["error"])


def test_full_queue_drops_without_blocking(failures: list[dict[str, Any]], api_server: HTTPServer) -> None:
    sending, release = threading.Event(), threading.Event()

    def slow(request: Request) -> Response:
        sending.set()
        release.wait(10)
        return Response("{}", content_type="application/json")

    api = api_server
    with background(api.port, QUEUE_SIZE=2):
        api.expect_request("/apps/app-id/events", method="POST").respond_with_handler(slow)
        api.expect_request("/apps/app-id/batch_events", method="POST").respond_with_handler(slow)
        pushbridge.trigger("c", "e", 0)
        assert sending.wait(10)  # the sender holds event 0 and is stuck in its request
        for i in range(1, 10):
            pushbridge.trigger("c", "e", i)  # never blocks: 2 fit in the queue, 7 are dropped
        release.set()
        assert pushbridge.flush(timeout=10)
        stats = dispatch.stats()["default"]
    assert (stats.sent, stats.dropped) == (3, 7)
    assert len(failures) == 7
    assert all(f["dropped"] for f in failures)


def test_request_succeeds_during_an_outage(client: Any) -> None:
    with background(refused_port()):
        response = client.post("/echo/", {"x": "1"}, headers={"X-Socket-ID": "1.2"})
        assert response.status_code == 200
        assert response.json() == {"data": {"x": "1"}, "socket_id": "1.2"}
        pushbridge.flush(timeout=10)


def test_queue_is_flushed_at_process_exit() -> None:
    script = textwrap.dedent(
        """
        import sys
        import django
        from django.conf import settings
        port = int(sys.argv[1])
        settings.configure(PUSHBRIDGE={"default": {"BACKEND": "soketi", "PORT": port, "DISPATCH": "background"}})
        django.setup()
        import pushbridge
        for i in range(15):
            pushbridge.trigger("exit-test", "e", i)
        # no flush: the process exits with events still queued
        """
    )
    result, received = run_against_collector(script)
    assert result.returncode == 0, result.stderr
    assert sorted(received) == list(range(15))


def test_arrival_gap_tracks_traffic_and_lingering_takes_one_request() -> None:
    sender = dispatch.BackgroundSender("t", queue_size=100, linger=0.001)  # not started: the parts alone
    for i in range(15):
        sender.enqueue(pushbridge.Event("c", "e", i))
    assert sender._arrival_gap < 1.0  # a finite moving average: traffic is noticed
    taken = list(sender._take(linger=True))
    assert [e.data for e in taken] == [str(i) for i in range(10)]  # one full request, in order
    sender._in_flight = []
    rest = sender._take(linger=False)
    assert [e.data for e in rest] == [str(i) for i in range(10, 15)]


def test_a_forked_child_starts_its_own_sender(api_server: HTTPServer) -> None:
    """gunicorn --preload: a sender thread started before the fork does not exist in the child."""
    import os

    api = api_server
    with background(api.port):
        api.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
        pushbridge.trigger("c", "e", "parent")
        assert pushbridge.flush(timeout=10)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: trigger, flush, report through the pipe
            try:
                pushbridge.trigger("c", "e", "child")
                ok = pushbridge.flush(timeout=10) and dispatch.stats()["default"].sent == 1
                os.write(write, b"ok" if ok else b"stuck")
            finally:
                os._exit(0)
        os.close(write)
        report = os.read(read, 16)
        os.waitpid(pid, 0)
    assert report == b"ok"
    assert [body["data"] for _, body in bodies(api)] == ["parent", "child"]
