"""A one-view Django site for the gunicorn test: ``GET /?n=N`` queues N background events.

Configured from the environment (``COLLECTOR_PORT``: where the events go), so that the test can
run it under an unmodified gunicorn.
"""

from __future__ import annotations

import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["pushbridge"],
    PUSHBRIDGE={
        "default": {
            "BACKEND": "soketi",
            "PORT": int(os.environ["COLLECTOR_PORT"]),
            "DISPATCH": "background",
            "SHUTDOWN_TIMEOUT": 20,
        }
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

import pushbridge  # noqa: E402


def queue_events(request: HttpRequest) -> HttpResponse:
    count = int(request.GET["n"])
    for i in range(count):
        pushbridge.trigger("c", "e", i)
    return HttpResponse(f"queued {count}")


urlpatterns = [path("", queue_events)]
application = get_wsgi_application()
