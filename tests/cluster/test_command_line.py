"""The cluster from the command line: ``--workers N``, ``manage.py pushbridge_server --redis``, bad flags."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid

import pusher
import pytest
import redis
import websocket

from pushbridge.server import main
from tests.cluster.conftest import APP_ID, KEY, NODE_TIMEOUT, SECRET, ClusterNode
from tests.server.peers import wait_until
from tests.server.test_server_io import start_and_read_banner
from tests.services.process import free_port
from tests.services.redis import RedisServer

CLIENTS = 16
#: Seconds for server processes to start: generous, a loaded 2-core machine imports slowly.
STARTUP = 60.0


def test_workers_share_one_port_and_a_dead_worker_is_replaced(redis_server: RedisServer) -> None:
    port, prefix = free_port(), f"workers-{uuid.uuid4().hex[:8]}"
    argv = [
        sys.executable, "-m", "pushbridge.server", "--workers", "2", "--port", str(port),
        "--app-id", APP_ID, "--key", KEY, "--secret", SECRET, "--log-level", "WARNING",
        "--redis", redis_server.url, "--redis-prefix", prefix, "--node-timeout", str(NODE_TIMEOUT),
    ]  # fmt: skip
    supervisor = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []

    def read() -> None:
        assert supervisor.stdout is not None
        output.extend(supervisor.stdout)

    threading.Thread(target=read, daemon=True).start()
    store = redis.Redis.from_url(redis_server.url, decode_responses=True)
    clients: list[websocket.WebSocket] = []
    try:
        nodes = f"{prefix}:nodes"
        wait_until(
            lambda: store.zcard(nodes) == 2 and sum("Press Ctrl-C" in line for line in output) == 2,
            timeout=STARTUP,
            what="two workers listening, each a node",
        )
        channel = f"room-{uuid.uuid4().hex[:8]}"
        for _ in range(CLIENTS):
            client = websocket.create_connection(f"ws://127.0.0.1:{port}/app/{KEY}?protocol=7", timeout=10)
            assert json.loads(client.recv())["event"] == "pusher:connection_established"
            client.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))
            assert json.loads(client.recv())["event"] == "pusher_internal:subscription_succeeded"
            clients.append(client)
        workers = store.zrange(nodes, 0, -1)
        # The kernel spread the connections: each worker holds some (announced by heartbeat).
        wait_until(
            lambda: all(int(store.hget(f"{prefix}:node:{node}:conns", APP_ID) or 0) > 0 for node in workers),
            what="both workers to hold connections",
        )
        sdk = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=port, ssl=False)
        wait_until(lambda: sdk.channel_info(channel, ["subscription_count"]).get("subscription_count") == CLIENTS)
        sdk.trigger(channel, "hello", {"to": "all"})
        for client in clients:
            assert json.loads(client.recv())["event"] == "hello"

        # A worker killed outright is replaced, and the dead one is reaped from the cluster.
        victim = workers[0]
        os.kill(int(victim.split("-")[-2]), signal.SIGKILL)
        wait_until(
            lambda: store.zcard(nodes) == 2 and victim not in store.zrange(nodes, 0, -1),
            timeout=STARTUP + NODE_TIMEOUT * 2,
            what="a replacement worker, and the dead one forgotten",
        )
        assert any("starting another" in line for line in output)
    finally:
        for client in clients:
            client.close()
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(30)
    assert supervisor.returncode == 0
    assert store.zcard(f"{prefix}:nodes") == 0, "every worker left the cluster cleanly"
    store.close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "2", "--port", "6001"], "--workers 2 needs --redis URL"),
        (["--workers", "2", "--port", "0", "--redis", "redis://127.0.0.1:1/0"], "--workers 2 needs a fixed --port"),
        (["--workers", "0"], "--workers must be at least 1, not 0"),
        (["--redis", "redis://127.0.0.1:1/0", "--node-timeout", "0"], "--node-timeout must be positive"),
    ],
)
def test_cluster_flags_that_cannot_work_are_refused(flags, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(flags)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unreachable_redis_is_named_without_its_password(capsys):
    port = free_port()
    status = main(["--port", "0", "--redis", f"redis://:hunter2@127.0.0.1:{port}/0", "--log-level", "ERROR"])
    assert status == 1
    error = capsys.readouterr().err
    assert f"Cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in error
    assert "hunter2" not in error


def project_env(tmp_path) -> dict[str, str]:
    """The environment of a Django project whose PUSHBRIDGE alias is the cluster's app."""
    (tmp_path / "cluster_settings.py").write_text(
        "SECRET_KEY = 'x'\n"
        "INSTALLED_APPS = ['pushbridge']\n"
        f"PUSHBRIDGE = {{'default': {{'BACKEND': 'embedded', 'APP_ID': '{APP_ID}', 'KEY': '{KEY}',"
        f" 'SECRET': '{SECRET}', 'HOST': '127.0.0.1', 'PORT': 6001}}}}\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cluster_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), root, os.environ.get("PYTHONPATH", "")]),
    }


def test_the_management_command_runs_workers(redis_server: RedisServer, tmp_path) -> None:
    prefix = f"command-workers-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "django", "pushbridge_server", "--workers", "2", "--port", str(free_port())]
    argv += ["--redis", redis_server.url, "--redis-prefix", prefix, "--log-level", "WARNING"]
    supervisor = subprocess.Popen(argv, env=project_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    store = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        wait_until(lambda: store.zcard(f"{prefix}:nodes") == 2, timeout=STARTUP, what="two workers, each a node")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(30)
    assert supervisor.returncode == 0
    assert store.zcard(f"{prefix}:nodes") == 0
    store.close()


def test_the_management_command_joins_a_cluster(redis_server: RedisServer, tmp_path) -> None:
    """``manage.py pushbridge_server --redis`` is a node like ``python -m pushbridge.server --redis``."""
    env = project_env(tmp_path)
    prefix = f"command-{uuid.uuid4().hex[:8]}"
    cluster_flags = ["--redis", redis_server.url, "--redis-prefix", prefix]
    command, banner = start_and_read_banner(
        [sys.executable, "-m", "django", "pushbridge_server", "--port", "0", *cluster_flags], env
    )
    other = ClusterNode(redis_server.url, prefix, "http://127.0.0.1:9/unused")
    try:
        assert "Cluster node " in banner, banner
        port = int(banner.split("@127.0.0.1:")[1].split("/")[0])
        client = websocket.create_connection(f"ws://127.0.0.1:{port}/app/{KEY}?protocol=7", timeout=10)
        assert json.loads(client.recv())["event"] == "pusher:connection_established"
        client.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "news"}}))
        assert json.loads(client.recv())["event"] == "pusher_internal:subscription_succeeded"
        sdk = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=other.port, ssl=False)
        wait_until(lambda: sdk.channel_info("news", ["subscription_count"]).get("subscription_count") == 1)
        sdk.trigger("news", "flash", {"via": "the other node"})
        assert json.loads(client.recv())["event"] == "flash"
        client.close()
    finally:
        other.stop()
        command.send_signal(signal.SIGTERM)
        command.communicate(timeout=30)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "2", "--port", "6001"], "--workers 2 needs --redis URL"),
        (["--workers", "2", "--port", "0", "--redis", "redis://127.0.0.1:1/0"], "--workers 2 needs a fixed --port"),
        (["--workers", "2", "--port", "6001", "--redis", "redis://127.0.0.1:1/0"], "--workers runs from the command"),
    ],
)
def test_the_management_command_refuses_workers_it_cannot_run(flags, message):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message):
        call_command("pushbridge_server", *flags)
