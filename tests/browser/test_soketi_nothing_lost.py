"""Nothing lost on a Soketi cluster: a node stopped, then the other killed, with pages behind nginx.

A real Django process in durable mode with history (the chaos test's site, sending through the
soketi backend to nginx) runs the chaos test's plan of transactions, some rolled back, while
two shim pages in chromium and one pusher-js client (``withHistory``) stay subscribed through
nginx to a two-node Soketi cluster on Redis (docs/soketi.md's recipe). Mid-plan one node is
stopped (its clients move to the other), then the other is killed, so that for a while no node
is up and every client misses events; then both come back. The clients reconnect through nginx
and the events they missed come from the history endpoint (or the relay's retries). In the end
every client has every committed event of its channels exactly once, in commit order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.live_django import DjangoSite
from tests.browser.test_chaos import CREDENTIALS, STEPS, chaos_run
from tests.services.nginx import NginxServer
from tests.services.redis import RedisServer
from tests.soketi.launcher import SoketiNode, app, soketi_installed
from tests.soketi.recipe import cluster_options

pytestmark = pytest.mark.browser


class Parts:
    def __init__(self, redis: RedisServer, directory: Path) -> None:
        options = cluster_options(redis.port)
        # The site's pages never sign in: signin stays off (docs/soketi.md, the signin timeout).
        apps = [app(*CREDENTIALS, enableUserAuthentication=False)]
        self.nodes = [SoketiNode(apps, options).start() for _ in range(2)]
        self.balancer = NginxServer([f"127.0.0.1:{node.port}" for node in self.nodes]).start()
        self.site = DjangoSite(
            push_port=self.balancer.port,
            directory=directory,
            settings="tests.soketi.site_settings",
            credentials=CREDENTIALS,
        ).start()

    def close(self) -> None:
        self.site.stop()
        self.balancer.stop()
        for node in self.nodes:
            node.close()


@pytest.fixture
def parts(redis_server: RedisServer, tmp_path: Path) -> Iterator[Parts]:
    if not soketi_installed():
        pytest.skip("Soketi is not installed: ./scripts/test installs it (npm ci --prefix tests/soketi)")
    started = Parts(redis_server, tmp_path)
    yield started
    started.close()


@pytest.mark.timeout(600)
def test_nothing_committed_is_lost_when_soketi_nodes_go_down(browser: Any, parts: Parts) -> None:
    site, (first, second) = parts.site, parts.nodes
    with chaos_run(browser, site, parts.balancer.port) as chaos:  # pages through nginx, round-robin
        chaos.run(1, 8)
        first.stop()  # graceful: its clients are told to reconnect, through nginx, to the other
        chaos.run(9, 12)
        second.kill()  # a crash, and no node left: every client misses what follows
        chaos.run(13, 20)
        first.start()
        chaos.run(21, 24)
        second.start()
        chaos.run(25, STEPS)
        chaos.finish()
