from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        # Registers the private-user.{id} authorization callback.
        from notifications import channels  # noqa: F401
