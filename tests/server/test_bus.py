"""The bus seam: a bus other than the local one sees every fan-out, and answers presence and queries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from pushbridge.engine.bus import ChannelInfo, LocalBus
from pushbridge.engine.state import AppState, Connection
from pushbridge.protocol import AppConfig, Output, PusherCore
from pushbridge.signing import sign_request
from tests.server.test_protocol import KEY, SECRET, connect, frames_to, subscribe

NOW = 1_700_000_000.0


class RemoteMembersBus(LocalBus):
    """A bus that, like one shared between nodes, knows a member who is on another node."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, str | None]] = []

    def publish(self, state: AppState, channel: str, frame: str, exclude: str | None) -> list[Output]:
        self.published.append((channel, frame, exclude))
        return super().publish(state, channel, frame, exclude)

    def members(self, state: AppState, channel: str) -> Mapping[str, Any]:
        return {**super().members(state, channel), "remote": {"node": 2}}

    def channel_info(self, state: AppState, channel: str) -> ChannelInfo:
        local = super().channel_info(state, channel)
        return ChannelInfo(
            occupied=True, subscription_count=local.subscription_count + 1, user_count=local.user_count + 1
        )

    def users(self, state: AppState, channel: str) -> list[str]:
        return [*super().users(state, channel), "remote"]

    def member_added(self, state: AppState, channel: str, user_id: str, info: Any, conn: Connection) -> list[Output]:
        self.published.append((channel, f"member_added {user_id}", None))
        return super().member_added(state, channel, user_id, info, conn)


def make_core(bus: RemoteMembersBus) -> PusherCore:
    return PusherCore([AppConfig("app-1", KEY, SECRET)], wall_clock=lambda: NOW, bus=bus)


def get(core: PusherCore, path: str, **params: str) -> Any:
    query = sign_request(KEY, SECRET, "GET", path, params, b"", timestamp=int(NOW))
    reply = core.http("GET", f"{path}?{urlencode(query)}", b"")
    assert reply.status == 200, reply.body
    return reply.body


def test_published_events_and_client_events_go_through_the_bus_encoded_once() -> None:
    bus = RemoteMembersBus()
    core = make_core(bus)
    sender, receiver = connect(core), connect(core)
    for conn in (sender, receiver):
        subscribe(core, conn, "private-room")
    body = json.dumps({"name": "e", "channels": ["private-room"], "data": "1"}).encode()
    query = sign_request(KEY, SECRET, "POST", "/apps/app-1/events", {}, body, timestamp=int(NOW))
    reply = core.http("POST", f"/apps/app-1/events?{urlencode(query)}", body)
    outputs = core.receive(sender, json.dumps({"event": "client-hi", "channel": "private-room", "data": {}}))
    channels = [(channel, json.loads(frame)["event"], exclude) for channel, frame, exclude in bus.published]
    assert channels == [("private-room", "e", None), ("private-room", "client-hi", sender.socket_id)]
    assert [f["event"] for f in frames_to(reply.outputs, receiver)] == ["e"]
    assert frames_to(outputs, sender) == []
    assert [f["event"] for f in frames_to(outputs, receiver)] == ["client-hi"]


def test_presence_and_queries_are_answered_by_the_bus() -> None:
    bus = RemoteMembersBus()
    core = make_core(bus)
    conn = connect(core)
    outputs = subscribe(core, conn, "presence-room", {"user_id": "local"})
    [succeeded] = frames_to(outputs, conn)
    presence = json.loads(succeeded["data"])["presence"]
    assert presence["count"] == 2
    assert presence["hash"] == {"local": None, "remote": {"node": 2}}
    assert ("presence-room", "member_added local", None) in bus.published
    users = get(core, "/apps/app-1/channels/presence-room/users")
    assert users == {"users": [{"id": "local"}, {"id": "remote"}]}
    info = get(core, "/apps/app-1/channels/presence-room", info="user_count,subscription_count")
    assert info == {"occupied": True, "user_count": 2, "subscription_count": 2}
