"""Who may follow an item's comments live: whoever may open its page (every logged-in user)."""

from __future__ import annotations

from typing import Any

import pushbridge
from items.models import Item


@pushbridge.channel("private-item.{item_id:int}")
def item_comments(user: Any, item_id: int) -> bool:
    return Item.objects.filter(pk=item_id).exists()
