"""The apps one server hosts, found by key (WebSocket path) or by id (HTTP API path)."""

from __future__ import annotations

from collections.abc import Iterable

from pushbridge.engine.config import AppConfig
from pushbridge.engine.state import AppState


class Apps:
    """Every hosted app's state, indexed both ways; an id or key given twice is a ``ValueError``."""

    def __init__(self, configs: Iterable[AppConfig]) -> None:
        self.by_key: dict[str, AppState] = {}
        self.by_id: dict[str, AppState] = {}
        for config in configs:
            if config.key in self.by_key or config.app_id in self.by_id:
                raise ValueError(f"App id {config.app_id!r} or key {config.key!r} is configured twice.")
            state = AppState(config)
            self.by_key[config.key] = state
            self.by_id[config.app_id] = state

    def states(self) -> Iterable[AppState]:
        """Every app's state, in the order the apps were given."""
        return self.by_id.values()

    def get(self, app_id: str | None) -> AppState:
        """The state of app ``app_id``; ``None`` is allowed only while a single app is hosted."""
        if app_id is None:
            if len(self.by_id) != 1:
                raise ValueError(f"This core hosts {len(self.by_id)} apps; say which one with app_id.")
            return next(iter(self.by_id.values()))
        state = self.by_id.get(app_id)
        if state is None:
            raise ValueError(f"Unknown app id {app_id!r}; this core hosts {sorted(self.by_id)}.")
        return state
