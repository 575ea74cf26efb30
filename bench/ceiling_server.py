"""The ceiling: the least work any Python asyncio server can do to fan one message out.

What "ceiling" means here: a server on the same stack as pushbridge's (asyncio + aiohttp for
HTTP and the WebSocket handshake) that speaks only as much Pusher protocol as the load
generator needs (``connection_established``, ``subscribe`` -> ``subscription_succeeded``,
``ping`` -> ``pong``) and, for every published event, encodes the Pusher message and its
WebSocket frame **once**, then hands those same bytes to every subscriber's transport with
``transport.write``: one call, one ``send`` system call per connection and nothing else. No
authentication, no validation, no per-subscriber encoding, no awaiting a drain. Any real server
does at least this much, so its rate is the ceiling a real server is measured against.

Run: ``python bench/ceiling_server.py --port 6010``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
from collections import defaultdict

from aiohttp import WSMsgType, web

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def text_frame(payload: bytes) -> bytes:
    """Return an unmasked, final, text WebSocket frame (server frames are never masked)."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 1 << 16:
        return bytes((0x81, 126)) + length.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + length.to_bytes(8, "big") + payload


class Ceiling:
    """Channel name -> the transports subscribed to it."""

    def __init__(self) -> None:
        self.channels: defaultdict[str, set[asyncio.Transport]] = defaultdict(set)
        self.next_id = 0

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, autoping=True)
        await ws.prepare(request)
        transport = request.transport
        assert isinstance(transport, asyncio.Transport)
        self.next_id += 1
        socket_id = f"{self.next_id}.{self.next_id}"
        established = {"socket_id": socket_id, "activity_timeout": 120}
        await ws.send_str(_dumps({"event": "pusher:connection_established", "data": _dumps(established)}))
        joined: list[str] = []
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                parsed = json.loads(message.data)
                event = parsed.get("event")
                if event == "pusher:subscribe":
                    channel = parsed["data"]["channel"]
                    self.channels[channel].add(transport)
                    joined.append(channel)
                    reply = {"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}"}
                    await ws.send_str(_dumps(reply))
                elif event == "pusher:ping":
                    await ws.send_str('{"event":"pusher:pong","data":"{}"}')
        finally:
            for channel in joined:
                self.channels[channel].discard(transport)
        return ws

    async def batch_events(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        for event in body["batch"]:
            self.fan_out(event["channel"], event["name"], event["data"])
        return web.json_response({"batch": [{} for _ in body["batch"]]})

    async def events(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        for channel in body["channels"]:
            self.fan_out(channel, body["name"], body["data"])
        return web.json_response({})

    def fan_out(self, channel: str, name: str, data: str) -> None:
        """The measured loop: one pre-encoded frame, one ``write`` per subscriber."""
        frame = text_frame(_dumps({"event": name, "channel": channel, "data": data}).encode())
        for transport in self.channels.get(channel, ()):
            transport.write(frame)


def make_app() -> web.Application:
    ceiling = Ceiling()
    app = web.Application()
    app.router.add_get("/app/{key}", ceiling.websocket)
    app.router.add_post("/apps/{app_id}/batch_events", ceiling.batch_events)
    app.router.add_post("/apps/{app_id}/events", ceiling.events)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6010)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    web.run_app(make_app(), host=args.host, port=args.port, backlog=1024, access_log=None, print=None)


if __name__ == "__main__":
    main()
