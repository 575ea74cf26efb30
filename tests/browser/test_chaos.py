"""Chaos: nothing a transaction committed is lost, nothing is delivered twice, nothing rolled back leaks.

A real Django process in durable mode (``tests.browser.django_site.chaos_settings``) runs the
transactions of a plan drawn from a fixed seed: model saves (auto-pushed) and ``trigger()``
calls, some inside a savepoint that rolls back, some transactions rolled back whole. Meanwhile
two shim pages in chromium and one pusher-js client in Node (``withHistory``) stay subscribed.
The test kills the Django process with SIGKILL and restarts it (twice), restarts the push
server (twice, once while a page is offline), and takes a page offline and back with
Playwright's ``set_offline``. In the end every client has received, at its callbacks, every
committed event of its channels exactly once, in commit order, and nothing else.

It runs on PostgreSQL (a throwaway cluster of tests/services) and on SQLite. On SQLite a relay
killed during its turn keeps the relay lease until it expires (60 s), so that run waits for it:
slow by design of the SQLite relay, not by a sleep of this test.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import WAIT_MS, ShimPage
from tests.browser.live_django import REPO, DjangoSite
from tests.example.conftest import ARTIFACTS, PushServer
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.browser

SEED = 20261130
STEPS = 32
#: The embedded server's defaults (python -m pushbridge.server without credentials).
CREDENTIALS = ("app-id", "app-key", "app-secret")
EVENTS = {"model": "note.created", "trigger": "note.triggered"}
HISTORY_CLIENT = REPO / "tests" / "node" / "history_client.js"


# -- the plan -----------------------------------------------------------------------------------


def make_plan(seed: int, channels: list[str]) -> list[dict[str, Any]]:
    """STEPS transactions of 1-3 writes each; ~20% roll back whole, ~10% of writes in a savepoint
    that rolls back. A pure function of the seed and the channel names."""
    rng = random.Random(seed)
    seq = 0
    steps = []
    for step in range(1, STEPS + 1):
        items = []
        for _ in range(rng.randint(1, 3)):
            seq += 1
            kind = rng.choice(sorted(EVENTS))
            items.append(
                {"channel": rng.choice(channels), "seq": seq, "kind": kind, "savepoint_rolls_back": rng.random() < 0.1}
            )
        steps.append({"step": step, "items": items, "rolls_back": rng.random() < 0.2})
    return steps


def marker_step(channels: list[str]) -> dict[str, Any]:
    """A last committed transaction with one trigger per channel: once it arrives, all did."""
    items = [
        {"channel": channel, "seq": 10_000 + n, "kind": "trigger", "savepoint_rolls_back": False}
        for n, channel in enumerate(channels)
    ]
    return {"step": STEPS + 1, "items": items, "rolls_back": False}


def committed(steps: list[dict[str, Any]], channel: str) -> list[tuple[int, int, str]]:
    """(step, seq, event) of every write to ``channel`` that committed, in commit order."""
    return [
        (step["step"], item["seq"], EVENTS[item["kind"]])
        for step in steps
        if not step["rolls_back"]
        for item in step["items"]
        if item["channel"] == channel and not item["savepoint_rolls_back"]
    ]


# -- the clients --------------------------------------------------------------------------------


class NodeClient:
    """tests/node/history_client.js: pusher-js with withHistory(), reporting on stdout."""

    def __init__(self, push_port: int, history_url: str, channels: list[str]) -> None:
        command = ["node", str(HISTORY_CLIENT), "127.0.0.1", str(push_port), CREDENTIALS[1], history_url, *channels]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reports: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.reports.append(json.loads(line))

    def events(self, channel: str) -> list[tuple[int, int, str]]:
        return [
            (r["data"]["step"], r["data"]["seq"], r["event"])
            for r in list(self.reports)
            if r["type"] == "event" and r["channel"] == channel
        ]

    def wait(self, condition: Any, what: str, timeout: float = WAIT_MS / 1000 * 3) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the Node client exited: {self.reports[-5:]}"
            assert time.monotonic() < deadline, f"Node client: {what} did not happen; last reports {self.reports[-5:]}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


SUBSCRIBE = """(channels) => {
    window.pb = PushBridge.fromPage();
    window.trouble = [];
    for (const name of channels) {
        const channel = window.pb.subscribe(name, {since: 0});
        for (const event of ['note.created', 'note.triggered']) {
            channel.bind(event, (data) => record(name, 'events', [data.step, data.seq, event]));
        }
        channel.bind('pushbridge:resync', (d) => window.trouble.push(['resync', name, d]));
        channel.bind('pushbridge:history_error', (d) => window.trouble.push(['history_error', name, d]));
    }
}"""


#: What a page's client knows of a channel, for failure messages.
STATE = """(name) => {
    const c = window.pb.channel(name);
    return {connection: window.pb.connection.state, subscribed: c.subscribed, position: c.position,
            recovering: c._recovery.recovering, trouble: window.trouble};
}"""


def page_events(page: ShimPage, channel: str) -> list[tuple[int, int, str]]:
    return [tuple(entry["data"]) for entry in page.js("(key) => got(key)", f"{channel}|events")]  # type: ignore[misc]


def open_pages(
    browser: Any, site: DjangoSite, subscriptions: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, ShimPage], str]:
    """Shim pages ``page1`` and ``page2`` subscribed (since 0) to their channels; their contexts,
    and the history endpoint's URL from the page configuration."""
    contexts, pages = {}, {}
    for name in ("page1", "page2"):
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
    return contexts, pages, history_url


def run_steps(site: DjangoSite, plan: list[dict[str, Any]], first: int, last: int) -> None:
    """Play steps ``first`` to ``last`` (from 1) of ``plan`` on the Django site, each its own request."""
    for step in plan[first - 1 : last]:
        reply = site.post("/chaos/step/", step)
        assert reply == {"committed": not step["rolls_back"]}, (step, reply)


def assert_every_event_once(
    pages: dict[str, ShimPage], node: NodeClient, subscriptions: dict[str, list[str]], steps: list[dict[str, Any]]
) -> None:
    """Once the last step's markers arrived: every client has every committed event of its
    channels exactly once, in commit order, and saw no resync or history error."""
    final = steps[-1]
    for name, page in pages.items():
        for channel in subscriptions[name]:
            marker = committed([final], channel)[0]
            try:
                page.wait(
                    "([key, marker]) => got(key).some((e) => JSON.stringify(e.data) === JSON.stringify(marker))",
                    [f"{channel}|events", list(marker)],
                    timeout=WAIT_MS * 3,
                )
            except Exception as exc:  # Playwright's timeout: say what the page has and lacks
                state = page.js(STATE, channel)
                got, expected = page_events(page, channel), committed(steps, channel)
                pytest.fail(
                    f"{name} never got {marker} on {channel} ({exc}); state {state}; got {got}; want {expected}"
                )
    for channel in subscriptions["node"]:
        marker = committed([final], channel)[0]
        node.wait(lambda channel=channel, marker=marker: marker in node.events(channel), f"the marker on {channel}")

    received = {
        (name, channel): page_events(page, channel) for name, page in pages.items() for channel in subscriptions[name]
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


@dataclass
class ChaosRun:
    """A plan played on ``site`` while two shim pages and a pusher-js client in Node stay subscribed."""

    site: DjangoSite
    contexts: dict[str, Any]
    pages: dict[str, ShimPage]
    node: NodeClient
    subscriptions: dict[str, list[str]]
    channels: list[str]
    plan: list[dict[str, Any]]

    def run(self, first: int, last: int) -> None:
        run_steps(self.site, self.plan, first, last)

    def finish(self) -> None:
        """Commit a marker on every channel, then check that every client got every committed event once."""
        final = marker_step(self.channels)
        self.site.post("/chaos/step/", final)
        assert_every_event_once(self.pages, self.node, self.subscriptions, [*self.plan, final])


@contextmanager
def chaos_run(browser: Any, site: DjangoSite, push_port: int) -> Iterator[ChaosRun]:
    """Fresh channels, the seeded plan, and the clients subscribed through ``push_port``; closed after."""
    suffix = uuid.uuid4().hex[:8]
    a, b, c = f"chaos-a-{suffix}", f"chaos-b-{suffix}", f"private-chaos-c-{suffix}"
    subscriptions = {"page1": [a, c], "page2": [b, c], "node": [a, b]}
    contexts, pages, history_url = open_pages(browser, site, subscriptions)
    node = NodeClient(push_port, history_url, subscriptions["node"])
    try:
        node.wait(lambda: {r["channel"] for r in node.reports if r["type"] == "subscribed"} == {a, b}, "subscribing")
        yield ChaosRun(site, contexts, pages, node, subscriptions, [a, b, c], make_plan(SEED, [a, b, c]))
    finally:
        node.stop()
        for context in contexts.values():
            context.close()


# -- the test -----------------------------------------------------------------------------------


def fresh_postgres_database(server: PostgresServer) -> dict[str, Any]:
    """A new, empty database on the session's PostgreSQL cluster, as a DATABASES entry."""
    import psycopg

    name = f"chaos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server.database_settings(name)


@pytest.fixture(params=["postgresql", "sqlite"])
def chaos_parts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[PushServer, DjangoSite]]:
    database = None
    if request.param == "postgresql":
        database = fresh_postgres_database(request.getfixturevalue("postgres_server"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    push = PushServer()
    push.start()
    site = DjangoSite(
        push_port=push.port,
        directory=tmp_path,
        settings="tests.browser.django_site.chaos_settings",
        credentials=CREDENTIALS,
        database=database,
    )
    try:
        site.start()
        yield push, site
    finally:
        site.stop()
        push.stop()


@pytest.mark.timeout(600)
def test_every_committed_event_arrives_once_in_order(browser: Any, chaos_parts: tuple[PushServer, DjangoSite]) -> None:
    push, site = chaos_parts
    with chaos_run(browser, site, push.port) as chaos:
        assert any(step["rolls_back"] for step in chaos.plan), "the seed must roll some transactions back"
        assert any(item["savepoint_rolls_back"] for step in chaos.plan for item in step["items"])

        chaos.run(1, 8)
        site.kill()  # right after commits: the relay may not have sent them yet
        site.start()
        chaos.run(9, 12)
        push.restart()
        chaos.run(13, 16)
        chaos.contexts["page1"].set_offline(True)
        chaos.run(17, 20)
        push.restart()  # page1 cannot reconnect until it is back online
        chaos.run(21, 22)
        site.kill()
        site.start()
        chaos.run(23, 24)
        chaos.contexts["page1"].set_offline(False)
        chaos.run(25, STEPS)
        chaos.finish()
