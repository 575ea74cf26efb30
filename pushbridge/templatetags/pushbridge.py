"""``{% load pushbridge %}{% pushbridge_js %}``: the JS shim and its configuration on a page.

Renders a ``<script type="application/json" id="pushbridge-config">`` block that
``PushBridge.fromPage()`` reads, and the ``<script>`` tag of the shim from static files. The
configuration holds what a browser needs (the app key, where the WebSocket server is, the auth
endpoints, the CSRF token and header) and never the secret.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, json_script
from django.utils.safestring import SafeString

from pushbridge.backends import get_backend
from pushbridge.conf import DEFAULT_ALIAS, BackendConfig
from pushbridge.defaults import DEFAULT_HOST, pusher_ws_host

register = template.Library()


def _csrf_header_name() -> str:
    """Django's ``CSRF_HEADER_NAME`` (a META key such as ``HTTP_X_CSRFTOKEN``) as an HTTP header."""
    meta_name: str = settings.CSRF_HEADER_NAME
    return meta_name.removeprefix("HTTP_").replace("_", "-")


def _endpoint(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _server_options(config: BackendConfig) -> dict[str, Any]:
    """Where browsers find the WebSocket server, derived from the backend's settings."""
    tls = True if config.use_tls is None else config.use_tls
    if config.host:
        host = config.host
    elif config.cluster:
        host = pusher_ws_host(config.cluster)
    else:
        host = DEFAULT_HOST
    options: dict[str, Any] = {"wsHost": host, "forceTLS": tls}
    if config.port:
        options["wsPort" if not tls else "wssPort"] = config.port
    if config.cluster:
        options["cluster"] = config.cluster
    return options


def client_config(request: Any = None, using: str = DEFAULT_ALIAS) -> dict[str, Any]:
    """The browser configuration of alias ``using``: everything but the secret."""
    config = get_backend(using).config
    options: dict[str, Any] = {"key": config.key, **_server_options(config)}
    if auth := _endpoint("pushbridge:auth"):
        options["channelAuthorization"] = {"endpoint": auth}
    if user_auth := _endpoint("pushbridge:user-auth"):
        options["userAuthentication"] = {"endpoint": user_auth}
    if history := _endpoint("pushbridge:history"):
        options["historyEndpoint"] = history
    if request is not None:
        options["csrfToken"] = get_token(request)
    options["csrfHeaderName"] = _csrf_header_name()
    options.update(config.client_options)
    return options


def config_element_id(using: str) -> str:
    """``pushbridge-config`` for the default alias, ``pushbridge-config-<alias>`` for others.

    ``PushBridge.fromPage(id)`` reads it; distinct ids let one page hold several aliases.
    """
    return "pushbridge-config" if using == DEFAULT_ALIAS else f"pushbridge-config-{using}"


@register.simple_tag(takes_context=True)
def pushbridge_js(context: template.Context, using: str = DEFAULT_ALIAS) -> SafeString:
    """The configuration block and the shim's script tag (the shim sets ``window.PushBridge``)."""
    return format_html(
        '{}\n<script src="{}"></script>',
        pushbridge_config(context, using),
        static("pushbridge/pushbridge.js"),
    )


@register.simple_tag(takes_context=True)
def pushbridge_config(context: template.Context, using: str = DEFAULT_ALIAS) -> SafeString:
    """Only the configuration block, for pages that load the shim (or pusher-js) themselves."""
    return json_script(client_config(context.get("request"), using), config_element_id(using))


@register.simple_tag
def pushbridge_position(channel: str, using: str = DEFAULT_ALIAS) -> int:
    """The channel's current position, for ``subscribe(name, {since: N})``.

    Read when the page is rendered: an event committed after this (even one the relay sends
    later) has a higher position and is delivered once; one committed before it, whose effect
    the page already shows, is not delivered again.
    """
    from pushbridge.dispatch.durable import database
    from pushbridge.errors import ConfigurationError
    from pushbridge.history import channel_has_history
    from pushbridge.positions import current_position

    if not channel_has_history(get_backend(using).config, channel):
        raise ConfigurationError(
            f"{{% pushbridge_position %}}: channel {channel!r} has no history (PUSHBRIDGE[{using!r}]['HISTORY'])."
        )
    return current_position(channel, database())
