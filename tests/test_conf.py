"""Settings: the PUSHBRIDGE dict, PUSHBRIDGE_URL, aliases, and errors that name the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from pushbridge.backends import get_backend
from pushbridge.backends.embedded import EmbeddedBackend
from pushbridge.backends.memory import MemoryBackend
from pushbridge.backends.pusher import PusherBackend
from pushbridge.backends.soketi import SoketiBackend
from pushbridge.conf import get_config, parse_url
from pushbridge.errors import ConfigurationError

PUSHER = {"BACKEND": "pusher", "APP_ID": "123", "KEY": "key", "SECRET": "secret"}


def configured(**aliases: dict[str, object]) -> override_settings:
    return override_settings(PUSHBRIDGE=aliases)


def test_short_aliases_and_dotted_paths() -> None:
    with configured(
        default=PUSHER,
        s={"BACKEND": "soketi"},
        m={"BACKEND": "pushbridge.backends.memory.MemoryBackend"},
    ):
        assert type(get_backend()) is PusherBackend
        assert type(get_backend("s")) is SoketiBackend
        assert type(get_backend("m")) is MemoryBackend


def test_pusher_cluster_url_and_defaults() -> None:
    with configured(default={**PUSHER, "CLUSTER": "eu"}):
        backend = get_backend()
        assert isinstance(backend, PusherBackend)
        assert backend.base_url == "https://api-eu.pusher.com"
        assert backend.limits.max_payload_bytes == 10240


def test_host_port_tls() -> None:
    with configured(default={**PUSHER, "HOST": "push.example.com", "PORT": 8443, "USE_TLS": True}):
        assert get_backend().base_url == "https://push.example.com:8443"  # type: ignore[attr-defined]


def test_embedded_server_backend_has_pushers_limits() -> None:
    with configured(default={"BACKEND": "embedded"}):
        backend = get_backend()
        assert isinstance(backend, EmbeddedBackend)
        assert backend.base_url == "http://127.0.0.1:6001"
        assert backend.limits.max_payload_bytes == 10 * 1024


def test_soketi_defaults_and_non_numeric_app_id() -> None:
    with configured(default={"BACKEND": "soketi"}):
        backend = get_backend()
        assert isinstance(backend, SoketiBackend)
        assert backend.base_url == "http://127.0.0.1:6001"
        assert (backend.app_id, backend.key, backend.secret) == ("app-id", "app-key", "app-secret")
        assert backend.limits.max_payload_bytes == 100 * 1024


def test_payload_limit_override() -> None:
    with configured(default={"BACKEND": "memory", "MAX_PAYLOAD_BYTES": 2048}):
        assert get_backend().limits.max_payload_bytes == 2048


def test_timeout_forms() -> None:
    with configured(default={**PUSHER, "TIMEOUT": 3}):
        assert get_config().timeout == (3.0, 3.0)
    with configured(default={**PUSHER, "TIMEOUT": (1, 9)}):
        assert get_config().timeout == (1.0, 9.0)


def test_url_inside_settings_with_overrides() -> None:
    with configured(default={"URL": "http://k:s@localhost:6001/apps/app-id", "TIMEOUT": 1}):
        config = get_config()
        assert (config.key, config.secret, config.host, config.port, config.app_id) == (
            "k",
            "s",
            "localhost",
            6001,
            "app-id",
        )
        assert config.use_tls is False
        assert config.timeout == (1.0, 1.0)


def test_parse_url_decodes_credentials() -> None:
    values = parse_url("https://my%40key:p%2Fss@push.example.com:8443/apps/42")
    assert values == {
        "BACKEND": "pusher",
        "KEY": "my@key",
        "SECRET": "p/ss",
        "HOST": "push.example.com",
        "PORT": 8443,
        "USE_TLS": True,
        "APP_ID": "42",
    }


@pytest.mark.parametrize(
    ("host", "cluster"), [("api-eu.pusher.com", "eu"), ("api-ap2.pusher.com", "ap2"), ("api.pusherapp.com", "mt1")]
)
def test_hosted_pusher_url_keeps_the_cluster(host: str, cluster: str) -> None:
    values = parse_url(f"https://k:s@{host}/apps/42")
    assert values["CLUSTER"] == cluster
    assert "HOST" not in values
    with configured(default={"URL": f"https://k:s@{host}/apps/42"}):
        assert get_backend().base_url == f"https://api-{cluster}.pusher.com"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://k:s@h/apps/1", "unknown scheme 'ftp'"),
        ("http://h/apps/1", "must carry the app key and secret"),
        ("http://k:s@h/app/1", "path must be /apps/APP_ID"),
        ("http://k:s@h/apps/1/extra", "path must be /apps/APP_ID"),
        ("http://k:s@h:99999/apps/1", "invalid port"),
    ],
)
def test_bad_urls_name_the_variable(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        parse_url(url)
    assert "PUSHBRIDGE_URL" in str(info.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, r"PUSHBRIDGE\['default'\]\['BACKEND'\] is required"),
        ({"BACKEND": "nope.Missing"}, r"\['BACKEND'\] = 'nope.Missing' cannot be imported"),
        ({"BACKEND": "pusher", "KEY": "k", "SECRET": "s"}, r"\['APP_ID'\] is required by backend"),
        ({**PUSHER, "SECRET": ""}, r"\['SECRET'\] is empty"),
        ({**PUSHER, "PORT": "eighty"}, r"\['PORT'\] must be a whole number"),
        ({**PUSHER, "PORT": 70000}, r"\['PORT'\] must be a whole number from 1 to 65535"),
        ({**PUSHER, "USE_TLS": "yes"}, r"\['USE_TLS'\] must be True or False"),
        ({**PUSHER, "TIMEOUT": "soon"}, r"\['TIMEOUT'\] must be seconds"),
        ({**PUSHER, "TIMEOUT": -1}, r"\['TIMEOUT'\] must be positive"),
        ({**PUSHER, "ENCRYPTION_MASTER_KEY": "short"}, r"\['ENCRYPTION_MASTER_KEY'\] is not valid base64"),
        ({**PUSHER, "SECERT": "typo"}, r"unknown key\(s\) 'SECERT'"),
        ({**PUSHER, "OPTIONS": []}, r"\['OPTIONS'\] must be a dict"),
    ],
)
def test_setting_errors_name_the_setting(entry: dict[str, object], message: str) -> None:
    with configured(default=entry), pytest.raises(ConfigurationError, match=message):
        get_backend()


def test_missing_alias_lists_the_known_ones() -> None:
    expected = "no alias 'other'; configured aliases: 'default'"
    with configured(default=PUSHER), pytest.raises(ConfigurationError, match=expected):
        get_backend("other")


def test_setting_must_be_a_dict() -> None:
    with override_settings(PUSHBRIDGE=["x"]), pytest.raises(ConfigurationError, match="must be a dict of aliases"):
        get_backend()


def test_settings_change_rebuilds_the_backend() -> None:
    with configured(default={"BACKEND": "memory"}):
        first = get_backend()
        assert get_backend() is first
    with configured(default={"BACKEND": "soketi"}):
        assert type(get_backend()) is SoketiBackend


def _run_script(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PUSHBRIDGE_URL")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
        check=False,
    )


def test_url_env_var_works_without_django_settings() -> None:
    code = (
        "from pushbridge.conf import get_config; c = get_config(); "
        "print(c.backend, c.key, c.secret, c.host, c.port, c.app_id, c.use_tls)"
    )
    result = _run_script(code, PUSHBRIDGE_URL="http://app-key:app-secret@127.0.0.1:6001/apps/app-id")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "pushbridge.backends.pusher.PusherBackend",
        "app-key",
        "app-secret",
        "127.0.0.1",
        "6001",
        "app-id",
        "False",
    ]


def test_nothing_configured_says_what_to_set() -> None:
    result = _run_script("import pushbridge; pushbridge.trigger('c', 'e', 1)")
    assert result.returncode == 1
    assert "set the PUSHBRIDGE setting in Django settings, or the PUSHBRIDGE_URL environment variable" in result.stderr


def test_secret_never_shows_in_reprs() -> None:
    with configured(default={**PUSHER, "SECRET": "very-secret-value"}):
        assert "very-secret-value" not in repr(get_config())
        assert "very-secret-value" not in repr(get_backend())


def test_default_port_of_the_scheme_is_no_port() -> None:
    assert parse_url("https://k:s@api-eu.pusher.com:443/apps/1")["CLUSTER"] == "eu"
    assert "PORT" not in parse_url("http://k:s@example.com:80/apps/1")


def test_import_pushbridge_stays_light() -> None:
    code = "import sys, pushbridge; print('django.db.models' in sys.modules, 'django.forms' in sys.modules)"
    result = _run_script(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_test_kit_imports_without_pytest() -> None:
    code = "import sys; sys.modules['pytest'] = None; import pushbridge.testing; print('ok')"
    result = _run_script(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
