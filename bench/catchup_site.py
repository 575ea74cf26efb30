"""The Django site of ``bench/catchup.py``: ``pushbridge.urls`` (the history endpoint) on SQLite.

Two processes use these settings: the benchmark itself, which migrates the database and
commits the events, and the WSGI server (gunicorn) that serves ``pushbridge:history`` to the
browsers; they share the SQLite file (WAL mode, as the README advises for readers beside a
writer). The WSGI server imports :func:`application` with the settings passed in the
environment (``CATCHUP_SITE_DB``, ``CATCHUP_SITE_PUSH_PORT``), through gunicorn's
``module:factory()`` form.

The middleware is what a real site has in front of the endpoint (sessions and authentication:
the view asks ``request.user`` about private channels), so a request costs what it would in
production, not the bare view.
"""

from __future__ import annotations

import os
from typing import Any

from common import APP_ID, KEY, SECRET

#: The channels with history: the benchmark's channel matches.
HISTORY_PATTERNS = ["catchup-*"]
#: Long enough that nothing a run commits is purged before it is read.
HISTORY_SECONDS = 3600

urlpatterns: list[Any] = []


def site_settings(database: str, push_port: int) -> dict[str, Any]:
    """Django settings of the site, for ``settings.configure``."""
    return {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
        "SECRET_KEY": "catchup-benchmark-only",
        "ROOT_URLCONF": __name__,
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "pushbridge",
        ],
        "MIDDLEWARE": [
            "django.middleware.common.CommonMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        "DATABASES": {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": database,
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
            }
        },
        "USE_TZ": True,
        "LOGGING_CONFIG": None,
        # The benchmark's process sends nothing while the push server is down (sync mode, one
        # attempt): the events it commits then exist only in history, which is the point.
        "PUSHBRIDGE": {
            "default": {
                "BACKEND": "pusher",
                "HOST": "127.0.0.1",
                "PORT": push_port,
                "USE_TLS": False,
                "APP_ID": APP_ID,
                "KEY": KEY,
                "SECRET": SECRET,
                "DISPATCH": "sync",
                "RETRIES": 0,
                "HISTORY": {"channels": HISTORY_PATTERNS, "seconds": HISTORY_SECONDS},
            }
        },
    }


def application() -> Any:
    """The WSGI application, configured from the environment (gunicorn: ``catchup_site:application()``)."""
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.urls import include, path

    settings.configure(**site_settings(os.environ["CATCHUP_SITE_DB"], int(os.environ["CATCHUP_SITE_PUSH_PORT"])))
    django.setup()
    urlpatterns.append(path("pushbridge/", include("pushbridge.urls")))
    return get_wsgi_application()
