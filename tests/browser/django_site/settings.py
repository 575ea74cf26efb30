"""Settings of the browser tests' Django site; the test fixture passes ports and paths in the environment."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SECRET_KEY = "pushbridge-browser-site-not-secret"
# DEBUG: the auth views then give their precise refusal reasons, which the tests read back.
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "pushbridge",
    "tests.browser.django_site",
]
MIDDLEWARE = [
    "tests.browser.django_site.faults.FaultMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pushbridge.middleware.SocketIdMiddleware",
]
ROOT_URLCONF = "tests.browser.django_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
STATIC_URL = "/static/"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BROWSER_SITE_DB"]}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # test users only
PUSHBRIDGE = {
    "default": {
        "BACKEND": "embedded",
        "HOST": "127.0.0.1",
        "PORT": int(os.environ["BROWSER_SITE_PUSH_PORT"]),
        "USE_TLS": False,
        "APP_ID": os.environ.get("BROWSER_SITE_APP_ID", "123456"),
        "KEY": os.environ.get("BROWSER_SITE_KEY", "browser-key"),
        "SECRET": os.environ.get("BROWSER_SITE_SECRET", "browser-secret"),
        "CLIENT_OPTIONS": {"historyEndpoint": "/history/"},
    }
}
#: How many events per channel the stand-in history keeps (the window of the resync tests).
HISTORY_WINDOW = int(os.environ.get("BROWSER_SITE_HISTORY_WINDOW", "20"))
