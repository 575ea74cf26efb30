"""WSGI entry point: the demo needs no ASGI, the WebSocket side is pushbridge's server."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")

application = get_wsgi_application()
