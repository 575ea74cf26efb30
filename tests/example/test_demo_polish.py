"""What the demo shows beyond its first impression: live comments, an honest badge, no 404s.

As in test_demo_site.py, chromium drives logged-in demo users; every 404 a page causes fails
the test (see the ``login`` fixture).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.example.conftest import WAIT_MS, DemoPage, DemoSite
from tests.example.test_demo_site import open_room, send, wait_message

pytestmark = pytest.mark.browser

Login = Callable[..., DemoPage]


def badge(page: DemoPage) -> int:
    return int(page.page.inner_text("#notification-count") or 0)


def test_a_comment_appears_live_for_the_items_owner(site: DemoSite, login: Login) -> None:
    item = site.item_id("Espresso machine")  # ann's
    ann = login("ann").goto(f"/items/{item}/")
    ann.wait_subscribed(f"private-item.{item}")
    ann.page.evaluate("() => { window.notReloaded = true; }")

    bob = login("bob").goto(f"/items/{item}/")
    text = "Polish: the seal is new"
    bob.page.fill("#comment-form textarea", text)
    bob.page.click("#comment-form button")

    ann.page.locator("#comments p", has_text=text).wait_for()
    assert ann.page.evaluate("() => window.notReloaded") is True  # shown live, not by a reload
    assert ann.texts("#comments .author")[-1] == "bob"


def test_the_badge_counts_only_what_is_unread(site: DemoSite, login: Login) -> None:
    room = site.room_id("design")  # ann and bob are members
    ann = login("ann").goto("/items/")
    ann.wait_subscribed(f"private-user.{site.user_id('ann')}")
    bob = open_room(login("bob"), room)
    before = badge(ann)

    away = "polish: sent while ann is away"
    send(bob, away)
    ann.page.locator("#notification-list li.unread", has_text=away).wait_for(state="attached")
    assert badge(ann) == before + 1

    open_room(ann, room)  # reading the room now
    assert badge(ann) == before + 1
    reading = "polish: sent while ann reads the room"
    send(bob, reading)
    wait_message(ann, reading)
    ann.page.locator("#notification-list li:not(.unread)", has_text=reading).wait_for(state="attached")
    # The page told the server it was read, so a reload agrees with the badge.
    wait_until_read(site, reading)
    assert badge(ann) == before + 1
    open_room(ann, room)
    assert badge(ann) == before + 1


def wait_until_read(site: DemoSite, text: str) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    sql = "SELECT read FROM notifications_notification WHERE text LIKE ?"
    while not site.query(sql, f"%{text}%"):
        assert time.monotonic() < deadline, f"the notification {text!r} was never marked read"
        time.sleep(0.1)


@pytest.mark.parametrize("path", ["/", "/items/", "/dashboard/", "/notifications/"])
def test_every_page_has_an_icon(site: DemoSite, login: Login, path: str) -> None:
    page = login("cid").goto(path)
    icon = page.page.evaluate("() => document.querySelector('link[rel=icon]').href")
    response = page.page.request.get(icon)
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
