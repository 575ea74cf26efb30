"""The shim reaches Django's static files through the ``pushbridge/static/pushbridge`` symlink.

``pushbridge/js/`` holds the one source of the shim; ``static/pushbridge`` is a relative symlink
to it so that ``{% static 'pushbridge/pushbridge.js' %}``, ``findstatic`` and ``collectstatic``
all serve that same file without a copy that could drift. These tests need no browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.template import Context, Template
from django.test import override_settings

PACKAGE = Path(__file__).resolve().parents[2] / "pushbridge"
SHIM_FILES = ("pushbridge.js", "pushbridge.mjs", "pushbridge-pusher.js", "pushbridge.d.ts", "pushbridge-pusher.d.ts")


def test_static_dir_is_a_relative_symlink_to_the_sources() -> None:
    link = PACKAGE / "static" / "pushbridge"
    assert link.is_symlink()
    assert str(link.readlink()) == "../js"  # relative, so it survives a checkout anywhere
    for name in SHIM_FILES:
        assert (link / name).read_bytes() == (PACKAGE / "js" / name).read_bytes()


@pytest.fixture
def staticfiles_settings(tmp_path: Path) -> Iterator[Path]:
    """staticfiles installed and STATIC_ROOT in tmp_path; the finders' cache is reset around it."""
    apps = list(settings.INSTALLED_APPS)
    if "django.contrib.staticfiles" not in apps:
        apps.append("django.contrib.staticfiles")
    with override_settings(INSTALLED_APPS=apps, STATIC_URL="/static/", STATIC_ROOT=str(tmp_path / "collected")):
        finders.get_finder.cache_clear()
        yield tmp_path / "collected"
    finders.get_finder.cache_clear()


def test_collectstatic_copies_the_shim(staticfiles_settings: Path) -> None:
    call_command("collectstatic", interactive=False, verbosity=0)
    for name in SHIM_FILES:
        collected = staticfiles_settings / "pushbridge" / name
        assert collected.read_bytes() == (PACKAGE / "js" / name).read_bytes()


def test_static_tag_and_finders_resolve_the_shim(staticfiles_settings: Path) -> None:
    found = finders.find("pushbridge/pushbridge.js")
    assert found is not None
    assert Path(found).resolve() == (PACKAGE / "js" / "pushbridge.js").resolve()
    rendered = Template("{% load static %}{% static 'pushbridge/pushbridge.js' %}").render(Context())
    assert rendered == "/static/pushbridge/pushbridge.js"
