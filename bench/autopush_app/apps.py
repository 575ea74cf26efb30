"""App config of the auto-push benchmark app (a label that cannot clash with a project's)."""

from __future__ import annotations

from django.apps import AppConfig


class AutopushBenchConfig(AppConfig):
    name = "autopush_app"
    label = "autopush_bench"
    default_auto_field = "django.db.models.BigAutoField"
