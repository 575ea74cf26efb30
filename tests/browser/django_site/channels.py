"""Who may subscribe to what on the browser tests' site (found by pushbridge's autodiscovery)."""

from typing import Any

import pushbridge


@pushbridge.channel("private-{name:path}")
def private(user: Any, name: str) -> bool:
    return "forbidden" not in name


@pushbridge.channel("presence-{name:path}")
def presence(user: Any, name: str) -> dict[str, Any]:
    return {"name": user.get_username().title()}


@pushbridge.channel("chaos-{name:path}", allow_anonymous=True)
def chaos(user: Any, name: str) -> bool:
    """Public channels of the chaos test: anyone may read their history (the Node client has no session)."""
    return True
