"""Django signals that pushbridge sends.

Webhooks (sent by the webhook view, one signal per event in the batch, ``sender`` is the
backend alias the webhook was verified against). Every signal carries ``channel``,
``time_ms`` (when the service created the batch) and ``payload`` (the event as received);
the member and client-event signals add the fields they have. Those arguments have the same
types whichever service sent the webhook (:mod:`pushbridge.webhook_events`): a client event's
``data`` is JSON text, ``user_id`` a string; ``payload`` alone is as the service sent it::

    from django.dispatch import receiver
    from pushbridge.signals import member_added

    @receiver(member_added)
    def greet(sender, channel, user_id, **kwargs):
        ...

Dispatch: :data:`dispatch_failed` announces events the background sender gave up on or
dropped (``events``, ``error``, ``dropped``), so that an outage is seen without ever raising
into a request.

Auto-push: :data:`events_coalesced` says that several saves of one row in one transaction
became one event (or none), which the test kit uses to explain a missing event.
"""

from __future__ import annotations

from django.dispatch import Signal

#: The first connection subscribed to ``channel``.
channel_occupied = Signal()
#: The last connection left ``channel``.
channel_vacated = Signal()
#: ``user_id`` joined the presence ``channel`` (its first connection).
member_added = Signal()
#: ``user_id`` left the presence ``channel`` (its last connection).
member_removed = Signal()
#: A browser sent client event ``event`` with ``data`` on ``channel`` (``socket_id``, and
#: ``user_id`` on presence channels).
client_event = Signal()
#: A subscriber found the cache ``channel`` empty.
cache_miss = Signal()

#: Webhook event name -> the signal it becomes.
WEBHOOK_SIGNALS: dict[str, Signal] = {
    "channel_occupied": channel_occupied,
    "channel_vacated": channel_vacated,
    "member_added": member_added,
    "member_removed": member_removed,
    "client_event": client_event,
    "cache_miss": cache_miss,
}

#: The background sender gave up on ``events`` (after retries) or ``dropped`` them (queue full).
dispatch_failed = Signal()

#: Auto-push announced several saves of one row (``sender``: the model; ``pk``) in one
#: transaction once: ``operations`` in order ("created", "updated", "deleted"), the event
#: name each ``would_have_sent`` on its own, the event name ``sent`` (None: nothing, a row
#: created and deleted), on ``channels``.
events_coalesced = Signal()
