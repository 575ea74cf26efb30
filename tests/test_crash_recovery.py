"""kill -9 after the commit loses nothing in durable mode: a relay delivers to a real receiver.

A real Django process (durable mode, its in-process relay off, as if it crashed between the
commit and the send) commits events, rolls one back, and is killed with SIGKILL. Then the
worker command, ``pushbridge_relay --once``, run as another process, sends what the dead process
committed: an unmodified pysher client subscribed through the embedded server receives each
committed event once, in order, and nothing of the rolled-back transaction. On SQLite and on a
real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pushbridge.server import EmbeddedServer
from tests.server.peers import PysherPeer

pytestmark = pytest.mark.peers
ROOT = Path(__file__).parent.parent
KEY, SECRET = "crash-key", "crash-secret"

SETUP = """
import json, os, sys, time
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "pushbridge"],
    DATABASES={"default": json.loads(os.environ["CRASH_DATABASE"])},
    USE_TZ=True,
    PUSHBRIDGE={"default": json.loads(os.environ["CRASH_ALIAS"])},
    PUSHBRIDGE_RELAY_IN_PROCESS=False,
)
django.setup()
"""

WRITER = """
from django.core.management import call_command
from django.db import transaction
import pushbridge
call_command("migrate", verbosity=0)
with transaction.atomic():
    for i in range(5):
        pushbridge.trigger("room-1", "said", {"n": i})
try:
    with transaction.atomic():
        pushbridge.trigger("room-1", "said", {"n": "rolled back"})
        raise RuntimeError
except RuntimeError:
    pass
print("committed", flush=True)
time.sleep(120)
"""

RELAY = """
from django.core.management import call_command
call_command("pushbridge_relay", "--once")
print("relayed", flush=True)
"""


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    embedded = EmbeddedServer(port=0, app_id="crash", key=KEY, secret=SECRET)
    embedded.start_in_thread()
    yield embedded
    embedded.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "crash.sqlite3")}
        return
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"crash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    yield server.database_settings(name)
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE {name} WITH (FORCE)")


def django_process(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SETUP) + textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_events_committed_before_kill_9_are_delivered_by_a_relay(
    server: EmbeddedServer, database: dict[str, Any]
) -> None:
    alias = {
        "BACKEND": "embedded",
        "PORT": server.port,
        "APP_ID": "crash",
        "KEY": KEY,
        "SECRET": SECRET,
        "DISPATCH": "durable",
        "HISTORY": {"channels": ["room-*"], "seconds": 300},
    }
    env = {"CRASH_DATABASE": json.dumps(database), "CRASH_ALIAS": json.dumps(alias)}
    peer = PysherPeer("127.0.0.1", server.port, KEY, secret="").connect()
    try:
        peer.subscribe("room-1", "said")
        writer = django_process(WRITER, env)
        assert writer.stdout is not None
        line = writer.stdout.readline()
        assert line == "committed\n", line + writer.stderr.read()  # type: ignore[union-attr]
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
        writer.stdout.close()
        writer.stderr.close()  # type: ignore[union-attr]
        assert writer.returncode == -signal.SIGKILL
        assert peer.events("room-1", "said") == []  # nothing left the killed process

        relay = django_process(RELAY, env)
        out, err = relay.communicate(timeout=60)
        assert relay.returncode == 0, err
        assert out == "relayed\n"
        received = peer.log.wait_count(lambda e: e.get("event") == "said", 5)
    finally:
        peer.close()
    wrapped = [json.loads(item["data"]) for item in received]
    assert [item["data"] for item in wrapped] == [{"n": i} for i in range(5)]
    assert [item["pushbridge"]["position"] for item in wrapped] == [1, 2, 3, 4, 5]
    assert len({item["pushbridge"]["id"] for item in wrapped}) == 5
