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
        _install_exit_hooks()


def _install_exit_hooks() -> None:
    """Background queues flush on SIGTERM/SIGINT: install the handlers from the main thread.

    ``ready()`` usually runs on the main thread, before any request thread triggers; a
    misconfigured alias is left for ``manage.py check`` to report.
    """
    from pushbridge.conf import get_config, raw_settings
    from pushbridge.errors import PushbridgeError

    try:
        aliases = list(raw_settings()[0])
        background = any(get_config(alias).dispatch == "background" for alias in aliases)
    except PushbridgeError:
        return
    if background:
        from pushbridge.dispatch import exit_hooks

        exit_hooks.install()
