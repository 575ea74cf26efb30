"""Settings of the pushbridge demo site.

Everything a newcomer might want to change comes from the environment, so that
``./scripts/demo`` and the browser tests run the very same project:

* ``PUSHBRIDGE_URL``: send through hosted Pusher or a Soketi server
  (``https://KEY:SECRET@api-eu.pusher.com/apps/APP_ID``) instead of the embedded server;
  ``PUSHBRIDGE_WS_HOST`` if browsers must reach its WebSockets by another name.
* ``DEMO_WS_PORT``: the port of the embedded server (default 6001).
* ``PUSHBRIDGE_JS_CLIENT=pusher-js``: pages use pusher-js instead of pushbridge's shim.
* ``DEMO_DB``: the SQLite file (default ``example_project/db.sqlite3``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BASE_DIR.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "pushbridge-demo-only-not-secret")
DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pushbridge",
    # The project package is an app too: it holds the shared templates, static files and the
    # demo's management commands (create_demo_users, rundemo).
    "demo_site",
    "notifications",
    "chat",
    "items",
    "ledger",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Reads X-Socket-ID so that to_others=True leaves out the browser tab that sent a message.
    "pushbridge.middleware.SocketIdMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo_site.context_processors.demo",
                "notifications.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB", str(BASE_DIR / "db.sqlite3")),
        # runserver is threaded: let a writer wait for another instead of failing at once.
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# -- pushbridge --------------------------------------------------------------------------------

#: The embedded server that ``manage.py rundemo`` (``pushbridge_runserver``) starts next to Django.
DEMO_WS_PORT = int(os.environ.get("DEMO_WS_PORT", "6001"))

if os.environ.get("PUSHBRIDGE_URL"):
    # Hosted Pusher or a Soketi server: the URL carries key, secret, host and app id.
    PUSHBRIDGE = {"default": {"URL": os.environ["PUSHBRIDGE_URL"], "DISPATCH": "background"}}
else:
    PUSHBRIDGE = {
        "default": {
            # The embedded server at its default address and credentials, on DEMO_WS_PORT.
            "BACKEND": "embedded",
            "PORT": DEMO_WS_PORT,
            # Requests only enqueue events; a server that is down (or restarting) never turns
            # a chat message into an error page.
            "DISPATCH": "background",
        }
    }


def _browser_ws_host(url: str) -> str | None:
    """Where browsers connect when Django sends elsewhere: hosted Pusher's HTTP API lives on
    ``api-CLUSTER.pusher.com`` but its WebSockets on ``ws-CLUSTER.pusher.com``."""
    if os.environ.get("PUSHBRIDGE_WS_HOST"):
        return os.environ["PUSHBRIDGE_WS_HOST"]
    hosted = re.match(r"https?://[^@]*@api-([a-z0-9-]+)\.pusher\.com", url)
    return f"ws-{hosted[1]}.pusher.com" if hosted else None


if ws_host := _browser_ws_host(os.environ.get("PUSHBRIDGE_URL", "")):
    PUSHBRIDGE["default"]["CLIENT_OPTIONS"] = {"wsHost": ws_host}

#: "shim" (pushbridge's own pushbridge.js) or "pusher-js" (the official client, served locally).
PUSHBRIDGE_JS_CLIENT = os.environ.get("PUSHBRIDGE_JS_CLIENT", "shim")

#: Where the pusher-js mode finds pusher.min.js: the demo script's npm install, or the test suite's.
PUSHER_JS_FILES = [
    BASE_DIR / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js",
    REPO_DIR / "tests" / "node" / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js",
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"pushbridge": {"handlers": ["console"], "level": "WARNING"}},
}
