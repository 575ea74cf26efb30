"""Fixtures for the cluster tests: server processes on one Redis, behind a real nginx.

Every node is a real ``python -m pushbridge.server --redis ...`` process (nodes must be able
to die on their own: ``kill -9`` is part of the tests); Redis and nginx come from the shared
launchers of tests/services. Each cluster gets its own Redis prefix, so clusters of different
tests never see each other on the session's Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pusher
import pytest
import redis
import requests

from tests.server.peers import NodePeers, WebhookReceiver, node_available
from tests.server.test_server_io import start_and_read_banner
from tests.services.nginx import NginxServer
from tests.services.process import free_port
from tests.services.redis import RedisServer

APP_ID = "424242"
KEY = "cluster-key"
SECRET = "cluster-secret"
#: Short, so that a killed node is forgotten quickly: within NODE_TIMEOUT * 1.25 seconds.
NODE_TIMEOUT = 2.0


class ClusterNode:
    """One server process, a node of the cluster named by ``prefix`` on ``redis_url``."""

    def __init__(self, redis_url: str, prefix: str, webhook_url: str, *extra: str, port: int | None = None) -> None:
        self.port = port or free_port()
        argv = [
            sys.executable, "-m", "pushbridge.server",
            "--port", str(self.port),
            "--app-id", APP_ID, "--key", KEY, "--secret", SECRET,
            "--webhook-url", webhook_url,
            "--redis", redis_url, "--redis-prefix", prefix,
            "--node-timeout", str(NODE_TIMEOUT),
            "--log-level", "WARNING",
            *extra,
        ]  # fmt: skip
        self.process, self.banner = start_and_read_banner(argv, dict(os.environ))
        self.output: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.node_id = self.banner.split("Cluster node ")[1].split(" ")[0] if "Cluster node " in self.banner else ""

    def _drain(self) -> None:
        """Keep reading the process's output so that it never blocks on a full pipe."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def health(self) -> dict[str, Any]:
        reply = requests.get(f"http://{self.address}/health", timeout=10)
        body: dict[str, Any] = reply.json()
        return body

    def kill(self) -> None:
        """Die without a word (SIGKILL): no goodbye to Redis, no close frames."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Cluster:
    """Nodes on one Redis prefix, with an nginx in front and the webhooks they send."""

    def __init__(
        self,
        redis_server: RedisServer,
        make_nginx: Callable[..., NginxServer],
        webhooks: WebhookReceiver,
        nodes: int,
        *extra: str,
    ) -> None:
        self.redis_server = redis_server
        self.prefix = f"test-{uuid.uuid4().hex[:8]}"
        self.webhooks = webhooks
        self.extra = extra
        self.nodes = [self.start_node() for _ in range(nodes)]
        self.nginx = make_nginx([node.address for node in self.nodes])
        self.redis = redis.Redis.from_url(redis_server.url, decode_responses=True)

    def start_node(self) -> ClusterNode:
        return ClusterNode(self.redis_server.url, self.prefix, self.webhooks.url, *self.extra)

    def sdk(self, port: int | None = None) -> pusher.Pusher:
        """The official pusher-http-python SDK, through nginx unless told a node's port."""
        return pusher.Pusher(
            app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=port or self.nginx.port, ssl=False
        )

    def live_nodes(self) -> list[str]:
        """The node ids Redis holds as alive."""
        return list(self.redis.zrange(f"{self.prefix}:nodes", 0, -1))

    def listening_nodes(self) -> int:
        """How many nodes are subscribed to the cluster's channel (``PUBSUB NUMSUB``)."""
        ((_, count),) = self.redis.pubsub_numsub(f"{self.prefix}:bus")
        return int(count)

    def hooks(self, name: str, **match: str) -> list[dict[str, Any]]:
        return [
            event
            for event in self.webhooks.events()
            if event["name"] == name and all(event.get(k) == v for k, v in match.items())
        ]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.redis.close()


@pytest.fixture
def webhooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def make_cluster(
    redis_server: RedisServer, nginx_factory: Callable[..., NginxServer], webhooks: WebhookReceiver
) -> Iterator[Callable[..., Cluster]]:
    """Makes clusters of ``nodes`` server processes (extra flags for all), stopped at the test's end.

    They share the session's Redis unless given one of their own (``redis=``).
    """
    made: list[Cluster] = []

    def make(nodes: int = 2, *extra: str, redis: RedisServer | None = None) -> Cluster:
        cluster = Cluster(redis or redis_server, nginx_factory, webhooks, nodes, *extra)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture
def pusher_js() -> Iterator[Callable[[int], NodePeers]]:
    """Makes Node processes of pusher-js clients pointed at a port (nginx's or a node's)."""
    if not node_available():
        pytest.skip("node is not installed; the pusher-js tests need Node 20 (CI has it)")
    made: list[NodePeers] = []

    def make(port: int) -> NodePeers:
        peers = NodePeers("127.0.0.1", port, KEY, SECRET)
        made.append(peers)
        return peers

    yield make
    for peers in made:
        peers.close()
