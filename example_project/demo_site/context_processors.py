"""What every page's base template needs to know about the demo's setup."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def demo(request: HttpRequest) -> dict[str, Any]:
    return {"js_client": settings.PUSHBRIDGE_JS_CLIENT}
