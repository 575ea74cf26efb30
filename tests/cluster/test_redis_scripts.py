"""The Lua scripts on a real Redis: which changes start or end something for the whole cluster."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pushbridge.engine import redis_scripts
from pushbridge.engine.cluster_wire import READS
from tests.services.redis import RedisServer


class Scripts:
    def __init__(self, client: redis.Redis) -> None:
        self.prefix = f"scripts-{uuid.uuid4().hex[:8]}"
        self.client = client
        self._join = client.register_script(redis_scripts.JOIN)
        self._sync = client.register_script(redis_scripts.SYNC)
        self._leave = client.register_script(redis_scripts.LEAVE)

    def join(self, node: str) -> None:
        self._join(args=[self.prefix, node, 10_000, READS])

    def sync(self, node: str, ops: list[list[Any]], reset: bool = False) -> Any:
        result = self._sync(args=[self.prefix, node, "app", 1, json.dumps(ops), "message", "1" if reset else "0"])
        return result if result == -1 else sorted(tuple(hook[1:]) for hook in json.loads(result))

    def leave(self, node: str) -> list[tuple[str, ...]]:
        return sorted(tuple(hook[1:]) for hook in json.loads(self._leave(args=[self.prefix, node])))


@pytest.fixture
def scripts(redis_server: RedisServer) -> Iterator[Scripts]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield Scripts(client)
    client.close()


def test_webhooks_come_from_the_first_and_last_node_only(scripts: Scripts) -> None:
    scripts.join("a")
    scripts.join("b")
    assert scripts.sync("a", [["c", "room", 1], ["c", "presence-p", 1], ["+", "presence-p", "u1", "{}"]]) == [
        ("channel_occupied", "presence-p"),
        ("channel_occupied", "room"),
        ("member_added", "presence-p", "u1"),
    ]
    assert scripts.sync("b", [["c", "room", 3], ["c", "presence-p", 1], ["+", "presence-p", "u1", "{}"]]) == []
    assert scripts.sync("a", [["-", "presence-p", "u1"], ["c", "presence-p", 0], ["c", "room", 0]]) == []
    assert scripts.leave("b") == [
        ("channel_vacated", "presence-p"),
        ("channel_vacated", "room"),
        ("member_removed", "presence-p", "u1"),
    ]


def test_a_reset_releases_only_what_the_node_no_longer_holds(scripts: Scripts) -> None:
    scripts.join("a")
    scripts.sync("a", [["c", "kept", 1], ["c", "gone", 1], ["c", "presence-p", 1], ["+", "presence-p", "u1", "{}"]])
    assert scripts.sync("a", [["c", "kept", 2], ["c", "presence-p", 1]], reset=True) == [
        ("channel_vacated", "gone"),
        ("member_removed", "presence-p", "u1"),
    ]
    assert scripts.leave("a") == [("channel_vacated", "kept"), ("channel_vacated", "presence-p")]


def test_a_node_redis_forgot_must_announce_itself_again(scripts: Scripts) -> None:
    assert scripts.sync("never-joined", [["c", "room", 1]]) == -1
