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

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.live_django import DjangoSite
from tests.browser.test_chaos import (
    CREDENTIALS,
    SEED,
    STEPS,
    NodeClient,
    assert_every_event_once,
    make_plan,
    marker_step,
    open_pages,
    run_steps,
)
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
    suffix = uuid.uuid4().hex[:8]
    a, b, c = f"chaos-a-{suffix}", f"chaos-b-{suffix}", f"private-chaos-c-{suffix}"
    subscriptions = {"page1": [a, c], "page2": [b, c], "node": [a, b]}
    plan = make_plan(SEED, [a, b, c])

    contexts, pages, history_url = open_pages(browser, site, subscriptions)  # through nginx, round-robin
    node = NodeClient(parts.balancer.port, history_url, subscriptions["node"])
    try:
        node.wait(lambda: {r["channel"] for r in node.reports if r["type"] == "subscribed"} == {a, b}, "subscribing")

        def run(first_step: int, last_step: int) -> None:
            run_steps(site, plan, first_step, last_step)

        run(1, 8)
        first.stop()  # graceful: its clients are told to reconnect, through nginx, to the other
        run(9, 12)
        second.kill()  # a crash, and no node left: every client misses what follows
        run(13, 20)
        first.start()
        run(21, 24)
        second.start()
        run(25, STEPS)
        final = marker_step([a, b, c])
        site.post("/chaos/step/", final)

        assert_every_event_once(pages, node, subscriptions, [*plan, final])
    finally:
        node.stop()
        for context in contexts.values():
            context.close()
