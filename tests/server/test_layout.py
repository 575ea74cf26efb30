"""The server's layout holds: the sans-I/O core imports no I/O, no Django, nothing of the shell."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "pushbridge" / "engine"
#: The aiohttp shell; everything else in the package is the sans-I/O core.
SHELL = {
    "admission",
    "cli",
    "cors",
    "embedded",
    "executor",
    "http_endpoint",
    "joined_writes",
    "log_limit",
    "metrics",
    "options",
    "routes",
    "settings",
    "site",
    "thread_runner",
    "traffic",
    "webhook_endpoints",
    "webhook_router",
    "websocket",
    "wire",
}
#: The cluster's shell: redis-py (the link and its writer), the node's settings, the --workers supervisor.
SHELL |= {"redis_link", "redis_writer", "cluster_settings", "workers"}
CORE = sorted(path.stem for path in ENGINE.glob("*.py") if path.stem not in SHELL | {"__init__"})
#: What the core may lean on outside the engine: the pure, Django-free parts of pushbridge.
ALLOWED_PUSHBRIDGE = {"pushbridge.limits", "pushbridge.errors", "pushbridge.signing"}
FORBIDDEN = {"aiohttp", "asyncio", "django", "requests", "selectors", "socket", "threading"}


def imported_modules(module: str) -> set[str]:
    tree = ast.parse((ENGINE / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_core_is_found() -> None:
    assert {"core", "bus", "subscriptions", "http_api", "codec"} <= set(CORE)


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_does_no_io_and_knows_no_django_nor_the_shell(module: str) -> None:
    for name in imported_modules(module):
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"pushbridge.engine.{module} imports {name}"
        if top == "pushbridge":
            inside = name.startswith("pushbridge.engine.")
            assert (inside and name.split(".")[2] not in SHELL) or name in ALLOWED_PUSHBRIDGE, (
                f"pushbridge.engine.{module} imports {name}"
            )


def test_no_module_of_the_server_is_a_house_of_several_jobs() -> None:
    for path in ENGINE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, f"{path.name} grew past 400 lines: split it by concern"
