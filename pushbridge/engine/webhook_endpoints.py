"""Webhook endpoints: where an app's webhooks go, and which event types each one wants.

Pusher lets an app have several webhook endpoints and choose, per endpoint, the event types it
receives (pusher.com/docs/channels/server_api/webhooks): channel existence
(``channel_occupied``, ``channel_vacated``), presence (``member_added``, ``member_removed``),
client events (``client_event``) and cache misses (``cache_miss``).

On the command line an endpoint is ``URL`` (every event type) or ``TYPE,TYPE=URL``, e.g.
``member_added,member_removed=https://example.com/presence-hooks``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: The event types the server sends webhooks for.
WEBHOOK_EVENT_TYPES = frozenset(
    {"channel_occupied", "channel_vacated", "member_added", "member_removed", "client_event", "cache_miss"}
)
_WITH_TYPES = re.compile(r"([a-z_]+(?:,[a-z_]+)*)=(.*)", re.DOTALL)


@dataclass(frozen=True)
class WebhookEndpoint:
    """One URL and the event types posted to it (``None``: every type)."""

    url: str
    event_types: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"Webhook URL {self.url!r} must start with http:// or https://.")
        if self.event_types is not None:
            unknown = sorted(self.event_types - WEBHOOK_EVENT_TYPES)
            if unknown or not self.event_types:
                raise ValueError(
                    f"Webhook event type(s) {unknown or '(none)'} for {self.url!r} are not ones the server sends; "
                    f"choose among {sorted(WEBHOOK_EVENT_TYPES)}."
                )

    def wants(self, event_name: str) -> bool:
        """Whether events named ``event_name`` go to this endpoint."""
        return self.event_types is None or event_name in self.event_types


def parse_webhook(value: str) -> WebhookEndpoint:
    """Parse ``URL`` or ``TYPE,TYPE=URL`` (the ``--webhook`` flag)."""
    match = _WITH_TYPES.fullmatch(value)
    if match is None:
        return WebhookEndpoint(value)
    return WebhookEndpoint(match.group(2), frozenset(match.group(1).split(",")))


def endpoints_by_app(
    hosted: Sequence[str],
    single_app: bool,
    webhook_url: str | None,
    webhooks: Sequence[WebhookEndpoint],
    webhook_urls: Mapping[str, str],
    app_webhooks: Mapping[str, Sequence[WebhookEndpoint]],
) -> dict[str, tuple[WebhookEndpoint, ...]]:
    """Gather every way of naming webhook endpoints into app id -> endpoints.

    ``webhook_url`` and ``webhooks`` configure the single app built from app id, key and
    secret; ``webhook_urls`` (one URL, every event type) and ``app_webhooks`` name apps by id.
    An app id the server does not host, or a single-app argument used with several apps, is a
    ``ValueError``.
    """
    if not single_app and (webhook_url or webhooks):
        raise ValueError(
            "webhook_url and webhooks configure the single app built from app_id/key/secret; "
            "with apps, use webhook_urls or app_webhooks."
        )
    unknown = sorted((set(webhook_urls) | set(app_webhooks)) - set(hosted))
    if unknown:
        raise ValueError(f"webhook_urls names app id(s) {unknown} that the server does not host (it hosts {hosted}).")
    result: dict[str, tuple[WebhookEndpoint, ...]] = {}
    for app_id in hosted:
        endpoints: list[WebhookEndpoint] = []
        if single_app:
            endpoints += [WebhookEndpoint(webhook_url)] if webhook_url else []
            endpoints += webhooks
        if app_id in webhook_urls:
            endpoints.append(WebhookEndpoint(webhook_urls[app_id]))
        endpoints += app_webhooks.get(app_id, ())
        if endpoints:
            result[app_id] = tuple(dict.fromkeys(endpoints))
    return result
