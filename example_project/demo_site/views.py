"""Serve a local copy of pusher-js, for the pages' pusher-js mode.

pusher-js is not committed to this repository: ``./scripts/demo`` installs it with npm when
``PUSHBRIDGE_JS_CLIENT=pusher-js`` asks for it (the test suite installs its own copy).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotFound


def pusher_js(request: HttpRequest) -> HttpResponse:
    for candidate in map(Path, settings.PUSHER_JS_FILES):
        if candidate.is_file():
            return FileResponse(candidate.open("rb"), content_type="text/javascript; charset=utf-8")
    looked = ", ".join(str(path) for path in settings.PUSHER_JS_FILES)
    return HttpResponseNotFound(
        f"pusher-js is not installed (looked in {looked}); run: npm install --prefix example_project",
        content_type="text/plain",
    )
