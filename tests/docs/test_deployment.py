"""docs/deployment.md's nginx site and settings, exercised as written with a real nginx.

The nginx block of the page is read from the Markdown, and only what names this machine is
replaced (the listen address and port, the certificate, the static folder, the two upstream
ports); it runs inside an ``http {}`` block as a sites-available file does. Then:

* a WebSocket client connects with ``wss://`` through nginx (verifying the throwaway
  certificate) to the embedded server, and receives an event that ``pushbridge.trigger()``
  sends to the server directly;
* ``/static/`` serves the browser client that ``collectstatic`` copied;
* everything else reaches Django (a real WSGI server in a thread);
* the page's settings block gives browsers ``wss://example.com:443``.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import websocket
from django.core.management import call_command
from django.test import RequestFactory, override_settings

import pushbridge
from pushbridge.server import EmbeddedServer
from pushbridge.templatetags.pushbridge import client_config
from tests.docs.markdown_steps import FileStep, steps
from tests.services.nginx import NginxServer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"

HTTP_WRAPPER = """
{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    include /etc/nginx/mime.types;
{temp_paths}
SITE
}}
"""


def page_file(title: str) -> str:
    return next(s.text for s in steps(PAGE) if isinstance(s, FileStep) and s.path == title)


def certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def django_server() -> Iterator[int]:
    """This suite's Django (tests.settings) behind a real WSGI server, in a thread."""
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_the_documented_nginx_site_carries_wss_static_and_django(
    tmp_path: Path,
    pushbridge_live_server: EmbeddedServer,
    django_server: int,
    nginx_factory: Callable[..., NginxServer],
) -> None:
    cert, key = certificate(tmp_path)
    static = tmp_path / "static"
    with override_settings(STATIC_ROOT=str(static)):
        call_command("collectstatic", "--noinput", stdout=StringIO())
    site = page_file("/etc/nginx/sites-available/mysite").replace("{", "{{").replace("}", "}}")
    for documented, here in [
        ("listen 443 ssl;", "listen 127.0.0.1:{port} ssl;"),  # the launcher's free port
        ("/etc/letsencrypt/live/example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/example.com/privkey.pem", str(key)),
        ("/srv/mysite/static/", f"{static}/"),
        ("127.0.0.1:6001", f"127.0.0.1:{pushbridge_live_server.port}"),
        ("127.0.0.1:8000", f"127.0.0.1:{django_server}"),
    ]:
        assert documented in site, documented
        site = site.replace(documented, here)
    port = nginx_factory(config=HTTP_WRAPPER.replace("SITE", site)).port
    tls = ssl.create_default_context(cafile=str(cert))

    client = websocket.create_connection(
        f"wss://127.0.0.1:{port}/app/{pushbridge_live_server.app.key}?protocol=7",
        sslopt={"ca_certs": str(cert)}, timeout=30,
    )  # fmt: skip
    try:
        assert json.loads(client.recv())["event"] == "pusher:connection_established"
        client.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "orders"}}))
        assert json.loads(client.recv())["event"] == "pusher_internal:subscription_succeeded"
        pushbridge.trigger("orders", "order.updated", {"id": 1, "status": "shipped"})
        event = json.loads(client.recv())
        assert (event["event"], json.loads(event["data"])) == ("order.updated", {"id": 1, "status": "shipped"})
    finally:
        client.close()

    with urllib.request.urlopen(f"https://127.0.0.1:{port}/static/pushbridge/pushbridge.js", context=tls) as reply:
        assert reply.read() == (static / "pushbridge" / "pushbridge.js").read_bytes()
        assert "javascript" in reply.headers["Content-Type"]
    request = urllib.request.Request(f"https://127.0.0.1:{port}/pushbridge/auth/")  # GET: Django says 405
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=tls)
    assert refused.value.code == 405


def test_the_documented_settings_send_browsers_to_wss_443() -> None:
    namespace: dict[str, Any] = {}
    environ = {"PUSHBRIDGE_KEY": "k", "PUSHBRIDGE_SECRET": "s"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        exec(page_file("mysite/settings.py (production)"), namespace)
    assert namespace["STATIC_ROOT"] == "/srv/mysite/static/"
    with override_settings(PUSHBRIDGE=namespace["PUSHBRIDGE"]):
        options = client_config(RequestFactory().get("/"))
    assert (options["key"], options["wsHost"], options["wssPort"], options["forceTLS"]) == (
        "k",
        "example.com",
        443,
        True,
    )
    assert "SECRET" not in json.dumps(options).upper()
