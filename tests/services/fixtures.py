"""pytest fixtures over the service launchers; tests/conftest.py makes them available everywhere.

``redis_server`` and ``postgres_server`` are shared by the session; ``redis_factory`` and
``nginx_factory`` make private instances for tests that stop or kill them. The ``postgres``
database alias of tests/settings.py points at ``postgres_server`` whenever a collected test
asks for it (``@pytest.mark.django_db(databases=["default", "postgres"])``), so the same test
code runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from tests.services.nginx import NginxServer
from tests.services.postgres import PostgresServer
from tests.services.redis import RedisServer

POSTGRES_ALIAS = "postgres"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_factory() -> Iterator[Callable[[], RedisServer]]:
    """Makes started Redis servers of the test's own, all stopped at its end."""
    started: list[RedisServer] = []

    def make() -> RedisServer:
        server = RedisServer().start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def nginx_factory() -> Iterator[Callable[..., NginxServer]]:
    """Makes started nginx balancers (``upstreams`` as ``host:port``), all stopped at the test's end."""
    started: list[NginxServer] = []

    def make(upstreams: Sequence[str] = (), **kwargs: Any) -> NginxServer:
        server = NginxServer(upstreams, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, request: pytest.FixtureRequest
) -> None:
    """Point the ``postgres`` alias at a real cluster, started only if a collected test uses it."""
    if not any(_uses_postgres(item) for item in request.session.items):
        return
    from django.conf import settings

    server: PostgresServer = request.getfixturevalue("postgres_server")
    settings.DATABASES[POSTGRES_ALIAS].update(server.database_settings())


def _uses_postgres(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    databases = marker.kwargs.get("databases", ()) if marker else ()
    test_class = getattr(item, "cls", None)
    databases = databases or getattr(test_class, "databases", ())
    return databases == "__all__" or POSTGRES_ALIAS in databases
