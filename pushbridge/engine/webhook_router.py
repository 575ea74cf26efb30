"""Routes the core's webhook events to the senders of the endpoints that want them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from pushbridge.engine.config import AppConfig
from pushbridge.engine.outputs import WebhookEvent
from pushbridge.engine.webhook_endpoints import WebhookEndpoint
from pushbridge.webhooks_client import WebhookSender


class WebhookRouter:
    """One :class:`WebhookSender` per (app, endpoint), each posting only the event types it wants."""

    def __init__(self, apps: Sequence[AppConfig], endpoints: Mapping[str, Sequence[WebhookEndpoint]]) -> None:
        self._apps = {app.app_id: app for app in apps}
        self.endpoints = endpoints
        self._senders: dict[str, list[tuple[WebhookEndpoint, WebhookSender]]] = {}

    def start(self) -> None:
        """Start a sender per endpoint (inside the running loop)."""
        for app_id, endpoints in self.endpoints.items():
            app = self._apps[app_id]
            pairs = self._senders[app_id] = []
            for endpoint in endpoints:
                sender = WebhookSender(endpoint.url, app.key, app.secret)
                sender.start()
                pairs.append((endpoint, sender))

    async def stop(self) -> None:
        """Give queued events a short chance to leave, then stop every sender."""
        for pairs in self._senders.values():
            for _, sender in pairs:
                await sender.stop()
        self._senders.clear()

    def submit(self, output: WebhookEvent) -> None:
        """Queue ``output``'s event on every endpoint of its app that wants its type."""
        name = output.event["name"]
        for endpoint, sender in self._senders.get(output.app.app_id, ()):
            if endpoint.wants(name):
                sender.submit(output.event)

    def senders(self) -> Iterator[tuple[str, WebhookSender]]:
        """Every running sender with its app id."""
        for app_id, pairs in self._senders.items():
            for _, sender in pairs:
                yield app_id, sender
