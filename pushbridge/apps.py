"""The Django app: ``"pushbridge"`` in ``INSTALLED_APPS`` registers the system checks."""

from django.apps import AppConfig


class PushbridgeConfig(AppConfig):
    name = "pushbridge"
    verbose_name = "pushbridge"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from pushbridge import checks  # noqa: F401  (registers the checks)

        # Authorization callbacks live in each app's channels.py (as Laravel's routes/channels):
        # import them, so a channel is never refused because its module was not imported yet.
        autodiscover_modules("channels")
