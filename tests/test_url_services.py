"""The URL names the service (``soketi://``, ``embedded://``...), and ``HOSTS`` lists several hosts."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from pytest_httpserver import HTTPServer

import pushbridge
from pushbridge.backends import get_backend
from pushbridge.backends.embedded import EmbeddedBackend
from pushbridge.backends.pusher import PusherBackend
from pushbridge.backends.soketi import SoketiBackend
from pushbridge.conf import get_config, parse_url
from pushbridge.errors import BackendUnavailable, ConfigurationError
from pushbridge.limits import PUSHER_LIMITS, SOKETI_LIMITS
from tests.http_service import raw_service, refused_port, unanswered_port


@pytest.mark.parametrize(
    ("url", "backend", "tls", "base_url"),
    [
        ("https://k:s@push.example.com/apps/1", PusherBackend, True, "https://push.example.com"),
        ("soketi://k:s@127.0.0.1:6001/apps/app-id", SoketiBackend, False, "http://127.0.0.1:6001"),
        ("soketi+https://k:s@ws.example.com/apps/app-id", SoketiBackend, True, "https://ws.example.com"),
        ("soketi+http://k:s@10.0.0.5:6001/apps/app-id", SoketiBackend, False, "http://10.0.0.5:6001"),
        ("embedded://k:s@127.0.0.1:6001/apps/app-id", EmbeddedBackend, False, "http://127.0.0.1:6001"),
        ("pusher://k:s@api-eu.pusher.com/apps/1", PusherBackend, True, "https://api-eu.pusher.com"),
        ("pusher+http://k:s@10.0.0.5/apps/1", PusherBackend, False, "http://10.0.0.5"),
        ("embedded+https://k:s@ws.example.com/apps/a", EmbeddedBackend, True, "https://ws.example.com"),
        ("soketi://k:s@10.0.0.5/apps/app-id", SoketiBackend, False, "http://10.0.0.5"),
    ],
)
def test_the_scheme_picks_the_backend_and_its_limits(
    monkeypatch: pytest.MonkeyPatch, url: str, backend: type, tls: bool, base_url: str
) -> None:
    monkeypatch.setenv("PUSHBRIDGE_URL", url)
    with override_settings(PUSHBRIDGE=None):
        built = get_backend()
        assert type(built) is backend
        assert built.config.use_tls is tls
        assert built.base_url == base_url  # type: ignore[attr-defined]
    limits = SOKETI_LIMITS if backend is SoketiBackend else PUSHER_LIMITS
    assert built.limits == limits


def test_soketi_url_enforces_soketis_payload_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHBRIDGE_URL", "soketi://k:s@127.0.0.1:6001/apps/app-id")
    with override_settings(PUSHBRIDGE=None):
        assert get_backend().limits.max_payload_bytes == 100 * 1024


def test_an_explicit_backend_wins_over_the_scheme() -> None:
    config = get_config_for({"URL": "soketi://k:s@h:1/apps/a", "BACKEND": "embedded"})
    assert config.backend.endswith("EmbeddedBackend")


@pytest.mark.parametrize("url", ["soketi+ftp://k:s@h/apps/1", "redis://k:s@h/apps/1", "memory://k:s@h/apps/1"])
def test_unknown_schemes_are_refused_with_the_forms(url: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown scheme") as info:
        parse_url(url)
    assert "SERVICE[+https]://" in str(info.value)


def get_config_for(entry: dict[str, object]):  # type: ignore[no-untyped-def]
    with override_settings(PUSHBRIDGE={"default": entry}):
        return get_config()


def test_hosts_list_in_order_with_the_default_port() -> None:
    config = get_config_for({"BACKEND": "soketi", "HOSTS": ["10.0.0.1", "10.0.0.2:7001"], "PORT": 6001})
    assert config.hosts == (("10.0.0.1", 6001), ("10.0.0.2", 7001))
    assert (config.host, config.port) == ("10.0.0.1", 6001)  # what browsers are told by default
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "soketi", "HOSTS": ["10.0.0.1", "10.0.0.2:7001"]}}):
        assert get_backend().base_urls == ("http://10.0.0.1:6001", "http://10.0.0.2:7001")  # type: ignore[attr-defined]


def test_one_host_is_a_list_of_one() -> None:
    assert get_config_for({"BACKEND": "soketi"}).hosts == (("127.0.0.1", 6001),)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"HOSTS": "10.0.0.1"}, "must be a non-empty list"),
        ({"HOSTS": []}, "must be a non-empty list"),
        ({"HOSTS": ["10.0.0.1:notaport"]}, "'10.0.0.1:notaport'"),
        ({"HOSTS": ["http://10.0.0.1/x"]}, 'must be "host" or "host:port"'),
        ({"HOSTS": [6001]}, "6001"),
        ({"HOSTS": ["a"], "HOST": "b"}, "both set"),
    ],
)
def test_bad_hosts_name_the_setting(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        get_config_for({"BACKEND": "soketi", **entry})
    assert "['HOSTS']" in str(info.value)


def failover_entry(*ports: int) -> dict[str, object]:
    return {"BACKEND": "soketi", "HOSTS": [f"127.0.0.1:{port}" for port in ports], "RETRIES": 0, "TIMEOUT": (0.3, 5)}


def test_a_refused_connection_fails_over_and_the_answering_host_comes_first(api_server: HTTPServer) -> None:
    api_server.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
    with override_settings(PUSHBRIDGE={"default": failover_entry(refused_port(), api_server.port)}):
        backend = get_backend()
        pushbridge.trigger("c", "e", 1)  # refused by the first: the second gets it
        assert backend.base_url == f"http://127.0.0.1:{api_server.port}"  # type: ignore[attr-defined]
        pushbridge.trigger("c", "e", 2)
    assert [json.loads(request.get_data())["data"] for request, _ in api_server.log] == ["1", "2"]


def test_a_connect_timeout_fails_over_but_a_broken_reply_does_not(api_server: HTTPServer) -> None:
    api_server.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
    with (
        unanswered_port() as silent,
        override_settings(PUSHBRIDGE={"default": failover_entry(silent, api_server.port)}),
    ):
        pushbridge.trigger("c", "e", 1)  # never connected to the first: the second gets it
    assert len(api_server.log) == 1
    with (
        raw_service(b"") as closing,  # connects, takes the request, closes without a reply
        override_settings(PUSHBRIDGE={"default": failover_entry(closing.port, api_server.port)}),
    ):
        # Connected, then the reply broke: the event may be out, so no other host is tried.
        with pytest.raises(BackendUnavailable, match="Remote end closed connection without response"):
            pushbridge.trigger("c", "e", 2)
        assert len(closing.requests) == 1
    assert len(api_server.log) == 1


def test_when_every_host_refuses_the_last_error_is_raised() -> None:
    with (
        override_settings(PUSHBRIDGE={"default": failover_entry(refused_port(), refused_port())}),
        pytest.raises(BackendUnavailable, match=r"Could not connect: .*Connection refused") as info,
    ):
        pushbridge.trigger("c", "e", 1)
    assert info.value.retryable is True
