"""The dashboard channel is private: income figures are for logged-in users only."""

from __future__ import annotations

from typing import Any

import pushbridge


@pushbridge.channel("private-dashboard")
def dashboard(user: Any) -> bool:
    # Anonymous users never get here (pushbridge refuses them first); every account may watch.
    return True
