"""pushbridge's test settings, with async views and the default alias at ``ASGI_SITE_PUSH_PORT``."""

import os

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.asgi_site.urls"
PUSHBRIDGE = {
    "default": {
        "BACKEND": "embedded",
        "PORT": int(os.environ["ASGI_SITE_PUSH_PORT"]),
        "KEY": os.environ["ASGI_SITE_KEY"],
        "SECRET": os.environ["ASGI_SITE_SECRET"],
        "APP_ID": os.environ["ASGI_SITE_APP_ID"],
        "RETRIES": 0,
    }
}
