"""Channel authorization callbacks, registered by channel-name pattern.

::

    @pushbridge.channel("presence-room-{room_id:int}")
    def join_room(user, room_id):
        room = Room.objects.filter(pk=room_id, members=user).first()
        return {"name": user.get_username()} if room else False

    @pushbridge.channel("private-user.{user_id:int}")
    def own_channel(user, user_id):
        return user.pk == user_id

A callback receives the user and the pattern's values, and returns ``False`` (refuse),
``True`` (allow; presence members get the default info), or, for presence channels, the
member's ``user_info`` dict (a dict holding ``user_id`` sets the member id too). Placeholders
take converters like Django's URL patterns: ``str`` (the default: anything but ``.``),
``int``, ``slug``, ``uuid`` and ``path`` (anything). The first registered pattern that
matches the whole channel name decides; a channel that no pattern matches is refused.
Anonymous users are refused unless the pattern is registered with ``allow_anonymous=True``.

An end-to-end encrypted channel (``private-encrypted-...``) is authorised only by a pattern
that itself names ``private-encrypted-``: its auth reply carries the channel's shared secret,
so a catch-all such as ``private-{name}`` written for ordinary private channels must not hand
it out by accident.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pushbridge.errors import ConfigurationError
from pushbridge.limits import ENCRYPTED_PREFIX, is_encrypted

Authorizer = Callable[..., Any]

# Converter name -> (regex, to_python). The regexes stay within Pusher's channel characters.
CONVERTERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "str": (r"[A-Za-z0-9_\-=@,;]+", str),
    "int": (r"[0-9]+", int),
    "slug": (r"[-a-zA-Z0-9_]+", str),
    "uuid": (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", uuid.UUID),
    "path": (r"[A-Za-z0-9_\-=@,.;]+", str),
}
_PLACEHOLDER = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<converter>[a-z]+))?\}")


@dataclass(frozen=True)
class ChannelRule:
    """One registered pattern and its callback."""

    pattern: str
    regex: re.Pattern[str]
    converters: dict[str, Callable[[str], Any]]
    callback: Authorizer
    allow_anonymous: bool = False

    @property
    def names_encrypted(self) -> bool:
        """Whether the pattern itself spells out ``private-encrypted-``, as encrypted channels require."""
        return self.pattern.startswith(ENCRYPTED_PREFIX)

    def match(self, channel: str) -> dict[str, Any] | None:
        """The pattern's values in ``channel``, converted, or None if it does not match."""
        found = self.regex.fullmatch(channel)
        if found is None:
            return None
        return {name: self.converters[name](value) for name, value in found.groupdict().items()}


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], dict[str, Callable[[str], Any]]]:
    """Turn ``"presence-room-{room_id:int}"`` into a regex and the converters of its groups."""
    parts: list[str] = []
    converters: dict[str, Callable[[str], Any]] = {}
    position = 0
    for placeholder in _PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[position : placeholder.start()]))
        name, converter = placeholder["name"], placeholder["converter"] or "str"
        if converter not in CONVERTERS:
            raise ConfigurationError(
                f"Channel pattern {pattern!r} uses unknown converter {converter!r}; known: {', '.join(CONVERTERS)}."
            )
        if name in converters:
            raise ConfigurationError(f"Channel pattern {pattern!r} names {name!r} twice.")
        regex, to_python = CONVERTERS[converter]
        parts.append(f"(?P<{name}>{regex})")
        converters[name] = to_python
        position = placeholder.end()
    parts.append(re.escape(pattern[position:]))
    return re.compile("".join(parts)), converters


#: Registered rules, in registration order.
rules: list[ChannelRule] = []


def channel(pattern: str, *, allow_anonymous: bool = False) -> Callable[[Authorizer], Authorizer]:
    """Register the decorated function as the authorization callback of ``pattern``."""
    regex, converters = compile_pattern(pattern)

    def register(callback: Authorizer) -> Authorizer:
        # Re-registering a pattern (module reloads in development) replaces the old rule.
        rules[:] = [rule for rule in rules if rule.pattern != pattern]
        rules.append(ChannelRule(pattern, regex, converters, callback, allow_anonymous))
        return callback

    return register


@dataclass(frozen=True)
class Decision:
    """The outcome of authorizing one user for one channel."""

    allowed: bool
    reason: str
    #: For presence channels: the member's user_info (None: the default info).
    user_info: dict[str, Any] | None = None
    #: For presence channels: a member id other than the user's pk.
    user_id: Any = None


def authorize(user: Any, channel_name: str) -> Decision:
    """Run the callback whose pattern matches ``channel_name`` for ``user``."""
    encrypted = is_encrypted(channel_name)
    passed_over: list[str] = []
    for rule in rules:
        values = rule.match(channel_name)
        if values is None:
            continue
        if encrypted and not rule.names_encrypted:
            passed_over.append(rule.pattern)
            continue
        if not getattr(user, "is_authenticated", False) and not rule.allow_anonymous:
            return Decision(False, f"Channel {channel_name!r} requires a logged-in user.")
        result = rule.callback(user, **values)
        if result is False or result is None:
            return Decision(False, f"The callback of pattern {rule.pattern!r} refused {channel_name!r}.")
        if result is True:
            return Decision(True, f"Allowed by pattern {rule.pattern!r}.")
        if isinstance(result, dict):
            info = dict(result)
            user_id = info.pop("user_id", None)
            if "user_info" in info:  # the presence member's own shape: {"user_id"?, "user_info"}
                info = info["user_info"]
            return Decision(True, f"Allowed by pattern {rule.pattern!r}.", user_info=info, user_id=user_id)
        raise ConfigurationError(
            f"The authorization callback of {rule.pattern!r} returned {result!r}; "
            "return True, False, or a dict of member info."
        )
    if passed_over:
        return Decision(
            False,
            f"Channel {channel_name!r} is end-to-end encrypted and only a pattern that names "
            f"{ENCRYPTED_PREFIX!r} authorises it; {', '.join(map(repr, passed_over))} matched but does not.",
        )
    return Decision(False, f"No authorization callback matches channel {channel_name!r}.")
