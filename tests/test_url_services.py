"""The URL names the service (``soketi://``, ``embedded://``...), and ``HOSTS`` lists several hosts."""

from __future__ import annotations

import pytest
from django.test import override_settings

from pushbridge.backends import get_backend
from pushbridge.backends.embedded import EmbeddedBackend
from pushbridge.backends.pusher import PusherBackend
from pushbridge.backends.soketi import SoketiBackend
from pushbridge.conf import get_config, parse_url
from pushbridge.errors import BackendUnavailable, ConfigurationError
from pushbridge.limits import PUSHER_LIMITS, SOKETI_LIMITS


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


def test_a_connect_timeout_fails_over_but_a_broken_reply_does_not() -> None:
    import requests
    import responses

    import pushbridge

    entry = {"BACKEND": "soketi", "HOSTS": ["10.0.0.1:6001", "10.0.0.2:6001"], "RETRIES": 0}
    first, second = "http://10.0.0.1:6001/apps/app-id/events", "http://10.0.0.2:6001/apps/app-id/events"
    with override_settings(PUSHBRIDGE={"default": entry}), responses.RequestsMock() as api:
        api.post(first, body=requests.exceptions.ConnectTimeout("no answer to SYN"))
        api.post(second, json={})
        pushbridge.trigger("c", "e", 1)  # never connected to the first: the second gets it
        assert [call.request.url.split("?")[0] for call in api.calls] == [first, second]
    with override_settings(PUSHBRIDGE={"default": entry}), responses.RequestsMock() as api:
        # Connected, then the reply broke: the event may be out, so no other host is tried.
        api.post(first, body=requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected"))
        with pytest.raises(BackendUnavailable, match="Connection aborted"):
            pushbridge.trigger("c", "e", 1)
        assert len(api.calls) == 1
