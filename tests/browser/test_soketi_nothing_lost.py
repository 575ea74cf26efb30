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

from tests.browser.conftest import WAIT_MS, ShimPage
from tests.browser.live_django import DjangoSite
from tests.browser.test_chaos import (
    CREDENTIALS,
    SEED,
    STEPS,
    SUBSCRIBE,
    NodeClient,
    committed,
    durable_history_available,
    make_plan,
    marker_step,
    page_events,
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
    missing = durable_history_available()
    if missing:
        pytest.skip(f"needs durable mode with history: {missing}")
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

    contexts, pages = {}, {}
    for name in ("page1", "page2"):  # through nginx, round-robin: one on each node
        contexts[name] = browser.new_context()
        page = ShimPage(contexts[name].new_page())
        page.page.set_default_timeout(WAIT_MS)
        page.page.goto(site.page_url("shim", user=name))
        page.js(SUBSCRIBE, subscriptions[name])
        page.wait("(names) => names.every((n) => window.pb.channel(n).subscribed)", subscriptions[name])
        pages[name] = page
    history_url = site.url + pages["page1"].js(
        "() => JSON.parse(document.getElementById('pushbridge-config').textContent).historyEndpoint"
    )
    node = NodeClient(parts.balancer.port, history_url, subscriptions["node"])
    try:
        node.wait(lambda: {r["channel"] for r in node.reports if r["type"] == "subscribed"} == {a, b}, "subscribing")

        def run(first_step: int, last_step: int) -> None:
            for step in plan[first_step - 1 : last_step]:
                reply = site.post("/chaos/step/", step)
                assert reply == {"committed": not step["rolls_back"]}, (step, reply)

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
        steps = [*plan, final]

        for name, page in pages.items():
            for channel in subscriptions[name]:
                marker = committed([final], channel)[0]
                page.wait(
                    "([key, marker]) => got(key).some((e) => JSON.stringify(e.data) === JSON.stringify(marker))",
                    [f"{channel}|events", list(marker)],
                    timeout=WAIT_MS * 3,
                )
        for channel in subscriptions["node"]:
            marker = committed([final], channel)[0]
            node.wait(lambda channel=channel, marker=marker: marker in node.events(channel), f"the marker on {channel}")

        received = {
            (name, channel): page_events(page, channel)
            for name, page in pages.items()
            for channel in subscriptions[name]
        }
        received.update({("node", channel): node.events(channel) for channel in subscriptions["node"]})
        for (client, channel), events in received.items():
            expected = committed(steps, channel)
            context = f"seed {SEED}, {client} on {channel}"
            assert sorted(events) == sorted(expected), f"{context}: not every committed event exactly once"
            assert [event[0] for event in events] == [event[0] for event in expected], f"{context}: out of order"
        for name, page in pages.items():
            assert page.js("() => window.trouble") == [], name
        assert [r for r in node.reports if r["type"] in ("resync", "history_error")] == []
    finally:
        node.stop()
        for context in contexts.values():
            context.close()
