"""Who may listen on which notification channel: each user on their own, nobody else."""

from __future__ import annotations

from typing import Any

import pushbridge


@pushbridge.channel("private-user.{user_id:int}")
def own_notifications(user: Any, user_id: int) -> bool:
    return bool(user.pk == user_id)
