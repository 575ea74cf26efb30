"""A first taste of pushbridge with no server at all: trigger into the memory backend.

The full example project (chat, dashboard, notifications in a browser) replaces this once the
embedded server and the Django integration land; this script keeps the README's demo command
honest until then.
"""

from __future__ import annotations

import django
from django.conf import settings

settings.configure(PUSHBRIDGE={"default": {"BACKEND": "memory"}}, USE_TZ=True)
django.setup()

import pushbridge  # noqa: E402  (after settings, as in any Django script)
from pushbridge.backends import memory  # noqa: E402


def main() -> None:
    memory.subscribe("room-42", lambda sent: print(f"  listener on {sent.channel!r} got {sent.event!r}: {sent.data}"))
    print("pushbridge.trigger('room-42', 'show-message', {...})")
    pushbridge.trigger("room-42", "show-message", {"user": "ann", "text": "hi there"})
    replies = [pushbridge.Event("room-42", "show-message", {"user": "bob", "text": f"#{i}"}) for i in range(3)]
    pushbridge.trigger_batch(replies)
    print(f"\npushbridge.outbox holds {len(pushbridge.outbox)} events, as a test suite would see them:")
    for sent in pushbridge.outbox:
        print(f"  {sent.channel} {sent.event} {sent.data}")
    try:
        pushbridge.trigger("room 42", "show-message", {})
    except pushbridge.PushbridgeError as error:
        print(f"\nInvalid input never leaves the process:\n  {type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
