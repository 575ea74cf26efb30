"""The browser site in durable mode, for the chaos test: events are written in the writer's
transaction and sent by the relay; channels ``chaos-*`` and ``private-chaos-*`` keep history."""

import json
import os

from tests.browser.django_site.settings import *  # noqa: F403

if os.environ.get("BROWSER_SITE_DATABASE"):  # a DATABASES entry as JSON, e.g. a PostgreSQL one
    DATABASES = {"default": json.loads(os.environ["BROWSER_SITE_DATABASE"])}

PUSHBRIDGE["default"].update(  # noqa: F405
    {
        "DISPATCH": "durable",
        "HISTORY": {"channels": ["chaos-*", "private-chaos-*"], "seconds": 3600},
        "CLIENT_OPTIONS": {},  # the real history endpoint, as the template tag names it
        # The relay retries a push server that is restarting after at most 1 s (instead of up
        # to 60 s), which keeps the test short; the retries themselves are what is tested.
        "OPTIONS": {"retry_backoff": 0.2, "retry_backoff_max": 1.0},
    }
)
