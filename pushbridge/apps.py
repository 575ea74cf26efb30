"""The Django app: ``"pushbridge"`` in ``INSTALLED_APPS`` registers the system checks."""

from django.apps import AppConfig


class PushbridgeConfig(AppConfig):
    name = "pushbridge"
    verbose_name = "pushbridge"

    def ready(self) -> None:
        from pushbridge import checks  # noqa: F401  (registers the checks)
