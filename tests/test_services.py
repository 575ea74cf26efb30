"""The service launchers themselves: each real program starts, serves and stops."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator

import pytest
import redis
import requests
from django.db import connections

from tests.services.nginx import NginxServer
from tests.services.redis import RedisServer
from tests.testapp.models import Unregistered


@pytest.mark.django_db(databases=["default", "postgres"])
def test_the_postgres_alias_is_a_real_postgresql() -> None:
    Unregistered.objects.using("postgres").create(text="on postgres")
    with connections["postgres"].cursor() as cursor:
        cursor.execute("SELECT version()")
        (version,) = cursor.fetchone()
    assert version.startswith("PostgreSQL")
    assert Unregistered.objects.using("postgres").filter(text="on postgres").count() == 1
    assert not Unregistered.objects.using("default").filter(text="on postgres").exists()


def test_redis_serves_and_can_be_killed(redis_factory: Callable[[], RedisServer]) -> None:
    server = redis_factory()
    client = redis.Redis.from_url(server.url)
    assert client.ping() is True
    server.kill()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    server.start()
    assert client.ping() is True


class _Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def named_backends() -> Iterator[list[http.server.HTTPServer]]:
    servers = []
    for name in ("one", "two"):
        server = http.server.HTTPServer(("127.0.0.1", 0), _Named)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def test_nginx_balances_and_skips_a_dead_upstream(
    nginx_factory: Callable[..., NginxServer], named_backends: list[http.server.HTTPServer]
) -> None:
    balancer = nginx_factory([f"127.0.0.1:{server.server_address[1]}" for server in named_backends])
    url = f"http://{balancer.address}/"
    assert {requests.get(url, timeout=5).text for _ in range(4)} == {"one", "two"}
    named_backends[0].shutdown()
    named_backends[0].server_close()
    assert {requests.get(url, timeout=5).text for _ in range(4)} == {"two"}
