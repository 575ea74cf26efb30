from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        # Registers the presence-room-{id} authorization callback.
        from chat import channels  # noqa: F401
