"""The browser site in durable mode, for the chaos test: events are written in the writer's
transaction and sent by the relay; channels ``chaos-*`` and ``private-chaos-*`` keep history."""

from tests.browser.django_site.settings import *  # noqa: F403

PUSHBRIDGE["default"].update(  # noqa: F405
    {
        "DISPATCH": "durable",
        "HISTORY": {"channels": ["chaos-*", "private-chaos-*"], "seconds": 3600},
        "CLIENT_OPTIONS": {},  # the real history endpoint, as the template tag names it
    }
)
