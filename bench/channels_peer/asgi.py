"""The ASGI application daphne serves: Django for HTTP, the consumer for ``/app/<key>``."""

from __future__ import annotations

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import re_path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "channels_peer.settings")
django_application = get_asgi_application()

from channels_peer.consumers import PusherConsumer  # noqa: E402 - needs the app registry ready

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter([re_path(r"^app/(?P<key>[^/]+)$", PusherConsumer.as_asgi())]),
    }
)
