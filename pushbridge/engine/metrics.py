"""Prometheus metrics (``GET /metrics``), collected when scraped from the counts the server keeps.

The hot paths only bump plain integers (:class:`~.traffic.Traffic`, :class:`~.drops.Drops`,
:class:`~.admission.Admission`, the webhook senders); this collector turns them and the
core's current counts into metric families at scrape time, so serving metrics costs the
fan-out nothing. Each server has its own registry, so several servers in one process (tests)
never mix their numbers.

A bus shared between processes reports its round trips in :attr:`Metrics.bus_round_trips`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pushbridge.engine.admission import Admission
from pushbridge.engine.core import PusherCore
from pushbridge.engine.traffic import Traffic
from pushbridge.webhooks_client import WebhookSender

#: The ``Content-Type`` of :meth:`Metrics.render`'s output.
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerCollector(Collector):
    """Reads the server's counts into Prometheus metric families."""

    def __init__(
        self,
        core: PusherCore,
        traffic: Traffic,
        admission: Admission,
        senders: Callable[[], Iterable[tuple[str, WebhookSender]]],
    ) -> None:
        self.core = core
        self.traffic = traffic
        self.admission = admission
        self.senders = senders

    def collect(self) -> Iterator[Metric]:
        stats = self.core.stats()
        traffic = self.traffic
        yield _gauge("pushbridge_connections", "Open WebSocket connections.", stats["connections"])
        yield _gauge("pushbridge_sockets", "Open TCP connections (WebSocket and HTTP).", self.admission.open)
        yield _gauge("pushbridge_subscriptions", "Subscriptions held by open connections.", stats["subscriptions"])
        yield _gauge("pushbridge_channels", "Channels with at least one subscriber.", stats["channels"])
        yield _gauge("pushbridge_presence_members", "Members of presence channels.", stats["members"])
        yield _counter("pushbridge_connections_opened", "WebSocket connections opened.", traffic.connections_opened)
        yield _counter("pushbridge_messages_received", "Frames received from clients.", traffic.messages_in)
        yield _counter("pushbridge_messages_sent", "Frames written to clients.", traffic.messages_out)
        yield _counter("pushbridge_deliveries", "Event frames fanned out to subscribers.", traffic.deliveries)
        closed = CounterMetricFamily(
            "pushbridge_connections_closed", "Connections closed by the server.", labels=["code"]
        )
        for code, count in sorted(traffic.closed.items()):
            closed.add_metric([str(code)], count)
        yield closed
        dropped = CounterMetricFamily(
            "pushbridge_dropped", "Messages and connections dropped, by reason.", labels=["reason"]
        )
        for source in (self.core.drops.by_reason, traffic.dropped, self.admission.refused):
            for reason, count in sorted(source.items()):
                dropped.add_metric([reason], count)
        yield dropped
        http = CounterMetricFamily("pushbridge_http_api_requests", "HTTP API requests, by status.", labels=["status"])
        for status, count in sorted(traffic.http_requests.items()):
            http.add_metric([str(status)], count)
        yield http
        events = CounterMetricFamily(
            "pushbridge_webhook_events", "Webhook events, delivered or dropped.", labels=["app_id", "url", "result"]
        )
        failures = CounterMetricFamily(
            "pushbridge_webhook_post_failures",
            "Webhook posts that failed (each retry counts).",
            labels=["app_id", "url"],
        )
        for app_id, sender in self.senders():
            events.add_metric([app_id, sender.url, "delivered"], sender.delivered)
            events.add_metric([app_id, sender.url, "dropped"], sender.dropped)
            failures.add_metric([app_id, sender.url], sender.failed_posts)
        yield events
        yield failures


class Metrics:
    """The registry of one server: its collector, and the histogram a shared bus fills."""

    def __init__(self, collector: ServerCollector) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        #: Round trips to a bus shared between processes (e.g. Redis), in seconds.
        self.bus_round_trips = Histogram(
            "pushbridge_bus_round_trip_seconds",
            "Round trips to the bus shared between server processes (Redis), in seconds.",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )

    def render(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)


def _gauge(name: str, documentation: str, value: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: Any) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
