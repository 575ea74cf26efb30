"""The contract every backend keeps.

A backend only *sends*: it turns validated :class:`~pushbridge.events.Event` objects into
whatever its service understands, and answers queries about channels. It never decides *when*
to send (that is ``dispatch``'s job) and never validates shapes (that is ``events``' job); it
does own its :class:`~pushbridge.limits.Limits`, because the limits are the service's.

To write your own, subclass :class:`BaseBackend` and implement :meth:`trigger`; override
:meth:`trigger_batch` when the service takes several events in one request, and the query
methods when it can answer them. Point ``PUSHBRIDGE[alias]["BACKEND"]`` at the class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from pushbridge.conf import BackendConfig
from pushbridge.crypto import sealed_size
from pushbridge.errors import UnsupportedOperation
from pushbridge.events import Event
from pushbridge.limits import PUSHER_LIMITS, Limits, is_encrypted


class BaseBackend:
    """Base class of pushbridge backends (public: subclass it for your own service)."""

    #: Settings this backend fills in when the alias leaves them out.
    default_settings: ClassVar[Mapping[str, Any]] = {}
    #: Settings that must be present (``APP_ID``, ``KEY``, ``SECRET``...).
    required_settings: ClassVar[tuple[str, ...]] = ()
    #: The service's limits before any ``MAX_PAYLOAD_BYTES`` override.
    base_limits: ClassVar[Limits] = PUSHER_LIMITS
    #: False for backends that keep events in the process (nothing to reach or authenticate).
    has_server: ClassVar[bool] = True

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.alias = config.alias
        limits = self.base_limits
        if config.max_payload_bytes is not None:
            limits = limits.replace(max_payload_bytes=config.max_payload_bytes)
        self.limits: Limits = limits

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r}>"

    # -- checking --------------------------------------------------------------------------

    def check(self, event: Event) -> Event:
        """Check ``event`` against everything this backend would refuse; return it if it fits.

        Beyond the limits table, an encrypted channel needs the master key, and its payload is
        checked at its sealed size (base64 of the data and a MAC, plus the nonce): what is
        refused here never reaches a request, or a background queue.
        """
        event.check(self.limits)
        for channel in event.channels:
            if is_encrypted(channel):
                self.config.master_key_for(channel)
                self.limits.check_payload_size(sealed_size(len(event.data.encode("utf-8"))), channel=channel)
        return event

    # -- sending ---------------------------------------------------------------------------

    def trigger(self, event: Event) -> dict[str, Any]:
        """Publish one event (one or more channels). Return the service's reply as a dict."""
        raise NotImplementedError(f"{type(self).__name__} must implement trigger().")

    def trigger_batch(self, events: Sequence[Event]) -> dict[str, Any]:
        """Publish single-channel events in one request, in order.

        Callers pass at most ``self.limits.max_batch_size`` events, each with one channel.
        The default sends them one by one, which suits services without a batch endpoint.
        """
        for event in events:
            self.trigger(event)
        return {}

    # -- queries ---------------------------------------------------------------------------

    def channels(self, prefix: str | None = None, info: Iterable[str] | str = ()) -> dict[str, dict[str, Any]]:
        """Return the occupied channels (optionally by prefix) with the ``info`` attributes asked."""
        raise self._unsupported("channels()")

    def channel_info(self, name: str, info: Iterable[str] | str = ()) -> dict[str, Any]:
        """Return ``{"occupied": bool, ...}`` for one channel, with the ``info`` attributes asked."""
        raise self._unsupported("channel_info()")

    def channel_users(self, name: str) -> list[str]:
        """Return the ids of the users present on a presence channel."""
        raise self._unsupported("channel_users()")

    def terminate_user_connections(self, user_id: str) -> None:
        """Close every connection signed in as ``user_id``."""
        raise self._unsupported("terminate_user_connections()")

    def close(self) -> None:
        """Release pooled connections; the backend may be used again afterwards."""

    def _unsupported(self, what: str) -> UnsupportedOperation:
        return UnsupportedOperation(f"{type(self).__name__} does not support {what}.", backend=self.alias)
