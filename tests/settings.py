"""Django settings for pushbridge's own test suite (real SQLite, and PostgreSQL on request)."""

import os
import tempfile

SECRET_KEY = "pushbridge-tests-not-secret"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "pushbridge",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pushbridge.middleware.SocketIdMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
STATIC_URL = "/static/"
# The SQLite test database is a file, not SQLite's shared-cache memory database: pushbridge's
# relay thread reads what the test committed on a connection of its own, as in production.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "TEST": {"NAME": os.path.join(tempfile.gettempdir(), f"pushbridge-tests-{os.getpid()}.sqlite3")},
    },
    # A real PostgreSQL, started only when a collected test asks for this alias
    # (tests/services/fixtures.py fills in the address).
    "postgres": {"ENGINE": "django.db.backends.postgresql", "NAME": "pushbridge"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PUSHBRIDGE = {
    "default": {"BACKEND": "memory"},
}
