"""Who may be "here" in a room: its members. Anyone logged in may become one (the Join button)."""

from __future__ import annotations

from typing import Any

import pushbridge
from chat.models import Room


@pushbridge.channel("presence-room-{room_id:int}")
def join_room(user: Any, room_id: int) -> dict[str, Any] | bool:
    if not Room.objects.filter(pk=room_id, members=user).exists():
        return False
    # The member info every other tab sees in the "Here now" list.
    return {"name": user.get_username()}
