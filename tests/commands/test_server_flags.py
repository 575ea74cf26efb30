"""``manage.py pushbridge_server`` and ``python -m pushbridge.server`` share one set of flags."""

from __future__ import annotations

import sys

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from pushbridge.limits import SOKETI_LIMITS
from pushbridge.management.commands.pushbridge_server import Command
from pushbridge.management.embedded import embedded_server_for
from pushbridge.server import build_parser


def flags(parser: object) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}  # type: ignore[attr-defined]


def test_the_management_command_has_every_flag_of_the_server() -> None:
    server_flags = flags(build_parser()) - {"-h", "--help"}
    command_flags = flags(Command().create_parser("manage.py", "pushbridge_server"))
    assert server_flags <= command_flags, server_flags - command_flags
    assert "--max-messages-per-second" in command_flags


def test_flags_win_over_the_alias_and_the_alias_over_defaults() -> None:
    entry = {"BACKEND": "soketi", "APP_ID": "555", "KEY": "k", "SECRET": "s", "PORT": 7001}
    with override_settings(PUSHBRIDGE={"default": entry}):
        options = vars(Command().create_parser("manage.py", "pushbridge_server").parse_args(
            ["--port", "0", "--max-payload-bytes", "20000", "--max-channels-per-connection", "5"]
        ))  # fmt: skip
        server = embedded_server_for("default", options)
        from_settings = embedded_server_for("default")
    assert (server.port, server.app.app_id, server.app.key, server.app.secret) == (0, "555", "k", "s")
    assert server.app.limits.max_payload_bytes == 20_000
    assert server.app.limits.max_channels_per_connection == 5
    assert server.app.limits.max_channel_name_length == SOKETI_LIMITS.max_channel_name_length  # the alias's
    assert from_settings.port == 7001
    assert from_settings.app.limits == SOKETI_LIMITS


def test_the_management_command_refuses_workers_without_redis() -> None:
    with pytest.raises(CommandError, match="--workers 2 needs --redis URL"):
        call_command("pushbridge_server", "--workers", "2", "--port", "7001")


def test_workers_rerun_the_command_line_that_asked_for_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["manage.py", "shell"])  # not how pushbridge_server was run
    with pytest.raises(CommandError, match="--workers runs from the command line"):
        call_command("pushbridge_server", "--workers", "2", "--port", "7001", "--redis", "redis://127.0.0.1:1/0")


def test_an_unreachable_redis_is_a_command_error() -> None:
    with pytest.raises(CommandError, match=r"127\.0\.0\.1:1\b"):
        call_command("pushbridge_server", "--port", "0", "--redis", "redis://127.0.0.1:1/0")
