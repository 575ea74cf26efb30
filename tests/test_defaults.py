"""One source for defaults and the version: every reader agrees with pushbridge.defaults."""

from __future__ import annotations

import importlib.metadata

from django.test import RequestFactory, override_settings

import pushbridge
from pushbridge import defaults
from pushbridge.conf import build_config
from pushbridge.templatetags.pushbridge import client_config


def test_the_version_is_written_once() -> None:
    assert pushbridge.__version__ == defaults.VERSION == importlib.metadata.version("pushbridge")


def test_a_bare_soketi_alias_points_at_the_default_service() -> None:
    config = build_config("local", {"BACKEND": "soketi"})
    assert (config.host, config.port, config.app_id, config.key, config.secret) == (
        defaults.DEFAULT_HOST,
        defaults.DEFAULT_PORT,
        defaults.DEFAULT_APP_ID,
        defaults.DEFAULT_KEY,
        defaults.DEFAULT_SECRET,
    )
    from pushbridge.dispatch.retry import policy_for

    assert (config.timeout, policy_for(config).retries, config.dispatch, config.queue_size) == (
        defaults.DEFAULT_TIMEOUT,
        defaults.DEFAULT_RETRIES,
        defaults.DEFAULT_DISPATCH,
        defaults.DEFAULT_QUEUE_SIZE,
    )


def test_the_embedded_server_listens_where_the_backends_send() -> None:
    from pushbridge.server import EmbeddedServer, build_parser

    server = EmbeddedServer()
    args = build_parser().parse_args([])
    assert (server.host, server.port, server.app.key) == (defaults.DEFAULT_HOST, defaults.DEFAULT_PORT, "app-key")
    assert (args.host, args.port, args.app_id, args.key) == (
        defaults.DEFAULT_HOST,
        defaults.DEFAULT_PORT,
        defaults.DEFAULT_APP_ID,
        defaults.DEFAULT_KEY,
    )


def test_browsers_of_a_hosted_cluster_go_to_its_websocket_host() -> None:
    entry = {"BACKEND": "pusher", "APP_ID": "1", "KEY": "k", "SECRET": "s"}
    with override_settings(PUSHBRIDGE={"default": entry}):
        options = client_config(RequestFactory().get("/"))
    assert options["wsHost"] == defaults.pusher_ws_host(defaults.DEFAULT_CLUSTER) == "ws-mt1.pusher.com"
