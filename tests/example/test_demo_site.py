"""The example project in a real browser: what a newcomer sees when they try the demo.

Each test drives chromium pages of logged-in demo users against the running demo site and the
embedded push server. To show that something did *not* arrive, a later event on the same
connection is awaited first: one WebSocket delivers in order, and the site sends in order.
The tests of a session share one demo database, so each test writes texts of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from tests.example.conftest import DemoPage, DemoSite, PushServer

pytestmark = pytest.mark.browser

Login = Callable[..., DemoPage]


def open_room(page: DemoPage, room_id: int) -> DemoPage:
    page.goto(f"/rooms/{room_id}/")
    page.wait_subscribed(f"presence-room-{room_id}")
    return page


def wait_members(page: DemoPage, *names: str, absent: tuple[str, ...] = ()) -> None:
    """Wait until the "Here now" list shows ``names`` and none of ``absent``."""
    page.wait(
        """([present, absent]) => {
            const shown = [...document.querySelectorAll('#members li')].map((li) => li.textContent);
            return present.every((n) => shown.includes(n)) && !absent.some((n) => shown.includes(n));
        }""",
        [list(names), list(absent)],
    )


def send(page: DemoPage, text: str) -> None:
    page.page.fill("#composer input[name=text]", text)
    page.page.click("#composer button")


def wait_message(page: DemoPage, text: str) -> None:
    page.page.locator("#messages .text", has_text=text).first.wait_for()


def count_messages(page: DemoPage, text: str, mine: bool | None = None) -> int:
    selector = "#messages .message" + {None: "", True: ".mine", False: ":not(.mine)"}[mine]
    return sum(1 for shown in page.texts(f"{selector} .text") if shown == text)


def test_chat_message_reaches_the_room_once(site: DemoSite, login: Login) -> None:
    room = site.room_id("lobby")
    ann, bob = open_room(login("ann"), room), open_room(login("bob"), room)
    wait_members(ann, "ann", "bob")

    hello, reply = "Hello bob, coffee at 3?", "Sure, see you there"
    ann.page.fill("#composer input[name=text]", hello)  # typing sends client-typing
    bob.page.get_by_text("ann is typing…").wait_for()
    ann.page.click("#composer button")
    wait_message(bob, hello)
    wait_message(ann, hello)  # from the POST reply, not from a push

    send(bob, reply)
    wait_message(ann, reply)
    # Had ann's own message been pushed back to her, it would have arrived before bob's reply.
    assert count_messages(ann, hello, mine=True) == 1
    assert count_messages(ann, hello) == 1
    assert count_messages(bob, hello, mine=False) == 1
    assert count_messages(bob, reply, mine=True) == 1
    assert count_messages(bob, reply) == 1

    bob.page.fill("#composer input[name=text]", "On my way")
    ann.page.get_by_text("bob is typing…").wait_for()
    ann.screenshot("chat.png")


def test_presence_list_follows_joins_and_leaves(site: DemoSite, login: Login) -> None:
    room = site.room_id("lobby")
    ann = open_room(login("ann"), room)
    wait_members(ann, "ann", absent=("cid",))

    cid = open_room(login("cid"), room)
    wait_members(ann, "ann", "cid")
    wait_members(cid, "ann", "cid")
    assert ann.page.inner_text("#members li.me") == "ann"

    cid.page.goto(f"{site.url}/items/")  # leaving the room page closes cid's connection to it
    wait_members(ann, "ann", absent=("cid",))


def test_approving_a_transaction_updates_every_dashboard(site: DemoSite, login: Login) -> None:
    bob = login("bob").goto("/dashboard/")
    ann = login("ann").goto("/dashboard/")
    bob.wait_subscribed("private-dashboard")
    ann.wait_subscribed("private-dashboard")
    assert bob.page.locator("button.approve").count() == 0  # only staff may approve

    def week_total() -> Decimal:
        return Decimal(bob.page.get_attribute("#week-total", "data-total") or "")

    def wait_week_total(expected: Decimal) -> None:
        bob.wait("(t) => document.getElementById('week-total').dataset.total === t", f"{expected:.2f}")

    # The dashboard's Approve button (a post() to a message_view).
    row = ann.page.locator("#pending tr").first
    row_id = row.get_attribute("id")
    amount = Decimal(row.get_attribute("data-amount") or "")
    before = week_total()
    row.locator("button.approve").click()
    wait_week_total(before + amount)
    bob.page.locator(f"#{row_id}").wait_for(state="detached")

    # The Django admin: a plain model save, pushed the same way.
    row = bob.page.locator("#pending tr").first
    transaction_id = (row.get_attribute("id") or "").removeprefix("tx-")
    amount = Decimal(row.get_attribute("data-amount") or "")
    before = week_total()
    ann.goto(f"/admin/ledger/transaction/{transaction_id}/change/")
    ann.page.check("input[name=approved]")
    ann.page.click("input[name=_save]")
    wait_week_total(before + amount)
    bob.page.locator(f"#tx-{transaction_id}").wait_for(state="detached")

    # A new pending transaction, added in the admin, joins everyone's list (and no total).
    ann.goto("/admin/ledger/transaction/add/")
    ann.page.fill("input[name=description]", "Invoice Hooli")
    ann.page.fill("input[name=amount]", "99.50")
    ann.page.click("input[name=_save]")
    bob.page.locator("#pending tr", has_text="Invoice Hooli").wait_for()
    assert week_total() == before + amount
    ann.goto("/dashboard/").wait_subscribed("private-dashboard")
    ann.screenshot("dashboard.png")


def test_notification_reaches_its_user_only(site: DemoSite, login: Login) -> None:
    ann, cid, bob = login("ann").goto("/items/"), login("cid").goto("/items/"), login("bob")
    ann.wait_subscribed(f"private-user.{site.user_id('ann')}")
    cid.wait_subscribed(f"private-user.{site.user_id('cid')}")

    # Nobody may listen on someone else's channel: the auth callback refuses cid.
    refused = cid.wait(
        """(name) => new Promise((resolve) => {
            const channel = demo.client.subscribe(name);
            channel.bind('pusher:subscription_error', (error) => resolve(error.status || 'refused'));
        })""",
        f"private-user.{site.user_id('ann')}",
    )
    assert refused == 403

    def comment(title: str, text: str) -> None:
        bob.goto(f"/items/{site.item_id(title)}/")
        bob.page.fill("#comment-form textarea", text)
        bob.page.click("#comment-form button")
        bob.page.locator(".comments p", has_text=text).wait_for()

    for_ann = "Descaled it, works now"  # ann owns the espresso machine
    comment("Espresso machine", for_ann)
    ann.page.locator("#notification-list li", has_text=for_ann).wait_for(state="attached")
    assert ann.page.inner_text("#notification-count") != "0"

    for_cid = "Price drop: 300"  # cid watches bob's road bike; ann does not
    comment("Road bike", for_cid)
    cid.page.locator("#notification-list li", has_text=for_cid).wait_for(state="attached")
    assert not any(for_ann in text for text in cid.texts("#notification-list li"))
    assert not any(for_cid in text for text in ann.texts("#notification-list li"))


def test_page_reconnects_after_the_push_server_restarts(site: DemoSite, push_server: PushServer, login: Login) -> None:
    room = site.room_id("lobby")
    ann, bob = open_room(login("ann"), room), open_room(login("bob"), room)
    wait_members(ann, "ann", "bob")
    before = ann.socket_id(), bob.socket_id()

    push_server.restart()

    for page, old in zip((ann, bob), before, strict=True):
        page.wait("(old) => demo.client.connection.state === 'connected' && demo.client.socket_id !== old", old)
        page.page.locator("#connection[data-state=connected]").wait_for()
        page.wait_subscribed(f"presence-room-{room}")
    wait_members(ann, "ann", "bob")

    text = "Still here after the restart?"
    send(bob, text)
    wait_message(ann, text)


def test_the_room_works_with_pusher_js(site: DemoSite, pusher_js_site: DemoSite, login: Login) -> None:
    room = site.room_id("lobby")
    ann = open_room(login("ann", site=pusher_js_site), room)  # pusher-js, from npm, served by the site
    bob = open_room(login("bob"), room)  # pushbridge.js
    # pushbridge.js is loaded on ann's page too (pushbridge-pusher.js builds on it), yet unused.
    assert ann.page.evaluate("() => [demo.client instanceof Pusher, demo.client instanceof PushBridge]") == [
        True,
        False,
    ]
    assert bob.page.evaluate("() => [typeof Pusher, demo.client instanceof PushBridge]") == ["undefined", True]
    wait_members(ann, "ann", "bob")
    wait_members(bob, "ann", "bob")

    from_ann, from_bob = "Sent through pusher-js", "Received by pusher-js"
    ann.page.fill("#composer input[name=text]", from_ann)
    bob.page.get_by_text("ann is typing…").wait_for()
    ann.page.click("#composer button")
    wait_message(bob, from_ann)
    send(bob, from_bob)
    wait_message(ann, from_bob)
    # The fetch helper sent X-Socket-ID, so pusher-js's tab was left out of its own push.
    assert count_messages(ann, from_ann) == 1
    assert count_messages(bob, from_bob) == 1
