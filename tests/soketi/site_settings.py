"""The browser tests' Django site in durable mode with history (the chaos settings), sending
through the ``soketi`` backend: for the Soketi cluster's "nothing lost" test."""

from tests.browser.django_site.chaos_settings import *  # noqa: F403

PUSHBRIDGE["default"]["BACKEND"] = "soketi"  # noqa: F405
