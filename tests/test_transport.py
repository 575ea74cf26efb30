"""The HTTP transport's reading of the environment: proxies and the certificates HTTPS trusts.

Against real servers: pytest-httpserver over TLS with a throwaway CA (trustme), and
pytest-httpserver again as a forward proxy (it is sent the absolute URL, as proxies are).
"""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.test import override_settings
from pytest_httpserver import HTTPServer

import pushbridge
from pushbridge.backends import get_backend, reset_backends
from pushbridge.backends.transport import ca_settings, proxy_for
from pushbridge.errors import BackendUnavailable, ConfigurationError
from tests.http_service import refused_port

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy and no CA setting from the machine running the tests: each test sets its own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def soketi(host: str, port: int, **extra: Any) -> override_settings:
    entry = {"BACKEND": "soketi", "HOST": host, "PORT": port, "RETRIES": 0, "TIMEOUT": (2, 5), **extra}
    return override_settings(PUSHBRIDGE={"default": entry})


# -- certificates ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def tls_server(ca: trustme.CA, *names: str) -> Iterator[HTTPServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def _tls_process(ca: trustme.CA) -> Iterator[HTTPServer]:
    yield from tls_server(ca, "127.0.0.1")


@pytest.fixture(scope="module")
def misnamed_tls(ca: trustme.CA) -> Iterator[HTTPServer]:
    yield from tls_server(ca, "push.example.com")  # a valid certificate, for another name


@pytest.fixture
def tls(_tls_process: HTTPServer) -> HTTPServer:
    _tls_process.clear()
    _tls_process.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
    return _tls_process


def test_https_refuses_a_certificate_from_an_unknown_authority(tls: HTTPServer) -> None:
    with (
        soketi("127.0.0.1", tls.port, USE_TLS=True),
        pytest.raises(BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        pushbridge.trigger("c", "e", 1)
    assert tls.log == []


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_from_the_environment_is_trusted_read_once_per_backend(
    tls: HTTPServer, ca_file: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, str(ca_file))
    with soketi("127.0.0.1", tls.port, USE_TLS=True):
        pushbridge.trigger("c", "e", 1)
        monkeypatch.delenv(variable)
        pushbridge.trigger("c", "e", 2)  # the backend read it once, when it was made
        assert len(tls.log) == 2
        reset_backends()
        with pytest.raises(BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            pushbridge.trigger("c", "e", 3)  # a new backend reads the environment again
    assert len(tls.log) == 2


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to name the directory's files")
def test_a_ca_directory_from_the_environment_is_trusted(
    tls: HTTPServer, ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ca_file, tmp_path / "ca.pem")
    subprocess.run(["openssl", "rehash", str(tmp_path)], check=True, capture_output=True, timeout=30)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))
    with soketi("127.0.0.1", tls.port, USE_TLS=True):
        pushbridge.trigger("c", "e", 1)
    assert len(tls.log) == 1


def test_the_host_name_is_verified_too(
    misnamed_tls: HTTPServer, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    with (
        soketi("127.0.0.1", misnamed_tls.port, USE_TLS=True),
        pytest.raises(BackendUnavailable, match=r"Could not connect.*'127\.0\.0\.1'"),
    ):
        pushbridge.trigger("c", "e", 1)
    assert misnamed_tls.log == []


def test_without_certifi_the_systems_certificates_are_trusted(
    tls: HTTPServer, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "certifi", None)  # import certifi now fails
    assert ca_settings() == {}
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # OpenSSL's own default file
    with soketi("127.0.0.1", tls.port, USE_TLS=True):
        pushbridge.trigger("c", "e", 1)
    assert len(tls.log) == 1


def test_with_certifi_its_bundle_is_trusted() -> None:
    certifi = pytest.importorskip("certifi")
    assert ca_settings() == {"ca_certs": certifi.where()}


def test_a_ca_bundle_that_does_not_exist_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", missing)
    with (
        soketi("127.0.0.1", refused_port(), USE_TLS=True),
        pytest.raises(ConfigurationError, match=f"CURL_CA_BUNDLE='{missing}' names no file or directory"),
    ):
        pushbridge.trigger("c", "e", 1)


# -- proxies -----------------------------------------------------------------------------


def test_requests_go_through_the_proxy_of_the_environment(
    api_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_server.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
    monkeypatch.setenv("http_proxy", f"http://ann:p%40ss@127.0.0.1:{api_server.port}")
    with soketi("push.example.invalid", 6001):  # never resolved: the proxy is asked for it
        pushbridge.trigger("c", "e", 1)
    [(request, _)] = api_server.log
    assert request.environ["REQUEST_URI"].startswith("http://push.example.invalid:6001/apps/app-id/events?auth_key=")
    assert request.headers["Host"] == "push.example.invalid:6001"
    assert request.headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"ann:p@ss").decode()


def test_all_proxy_is_used_when_the_scheme_has_none(api_server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    api_server.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{api_server.port}")
    with soketi("push.example.invalid", 6001):
        pushbridge.trigger("c", "e", 1)
    assert api_server.log[0][0].environ["REQUEST_URI"].startswith("http://push.example.invalid:6001/")


def test_https_uses_https_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://other.internal:3128")
    with soketi("push.example.com", 443, USE_TLS=True):
        assert get_backend().transport(0).proxy == "http://proxy.internal:3128"  # type: ignore[attr-defined]


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "example.com, 127.0.0.1"])
def test_no_proxy_connects_directly(api_server: HTTPServer, monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    api_server.expect_request("/apps/app-id/events", method="POST").respond_with_json({})
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{refused_port()}")  # a proxy that is down
    monkeypatch.setenv("no_proxy", no_proxy)
    with soketi("127.0.0.1", api_server.port):
        pushbridge.trigger("c", "e", 1)
    assert api_server.log[0][0].environ["REQUEST_URI"].startswith("/apps/app-id/events?")


@pytest.mark.parametrize("no_proxy", ["", "example.com", "10.0.0.0/8"])
def test_hosts_no_proxy_does_not_name_go_through_the_proxy(
    api_server: HTTPServer, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{refused_port()}")  # a proxy that is down
    monkeypatch.setenv("no_proxy", no_proxy)
    with soketi("127.0.0.1", api_server.port), pytest.raises(BackendUnavailable, match="Could not connect"):
        pushbridge.trigger("c", "e", 1)
    assert api_server.log == []


@pytest.mark.parametrize(
    ("no_proxy", "direct"),
    [
        ("example.com", True),  # the domain and every name below it
        (".example.com", True),
        ("push.example.com:6001", True),
        ("push.example.com:7000", False),  # another port of that host
        ("other.example.com,example.org", False),
        ("10.0.0.0/8", False),  # a network matches addresses, not names
    ],
)
def test_which_names_no_proxy_covers(monkeypatch: pytest.MonkeyPatch, no_proxy: str, direct: bool) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.internal:3128")
    monkeypatch.setenv("no_proxy", no_proxy)
    assert proxy_for("http://push.example.com:6001") == (None if direct else "http://proxy.internal:3128")


def test_an_unsupported_proxy_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "socks5://ann:secret@127.0.0.1:1080")
    with (
        soketi("127.0.0.1", refused_port()),
        pytest.raises(ConfigurationError, match=r"'socks5://ann:\*\*\*@127.0.0.1:1080' .* http:// and https://"),
    ):
        pushbridge.trigger("c", "e", 1)
