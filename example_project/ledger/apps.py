from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"

    def ready(self) -> None:
        # Registers the private-dashboard authorization callback.
        from ledger import channels  # noqa: F401
