"""``manage.py create_demo_users``: ann, bob and cid (password "demo") and something to look at.

Idempotent: run it as often as you like; it resets the passwords and adds only what is missing.
Seeding runs inside ``pushbridge.muted()``, as fixtures and data imports should: nobody is
listening yet, and the push server need not even be running.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

import pushbridge
from chat.models import Message, Room
from items.models import Item
from ledger.models import Transaction

PASSWORD = "demo"
#: user name -> is staff (ann approves transactions and may use the admin).
USERS = {"ann": True, "bob": False, "cid": False}


class Command(BaseCommand):
    help = "Create the demo users (ann, bob, cid; password 'demo'), rooms, items and transactions."

    def handle(self, *args: Any, **options: Any) -> None:
        with pushbridge.muted(), transaction.atomic():
            users = self.create_users()
            self.create_rooms(users)
            self.create_items(users)
            self.create_transactions()
        self.stdout.write("Demo users: " + ", ".join(f"{name} / {PASSWORD}" for name in USERS))

    def create_users(self) -> dict[str, Any]:
        model = get_user_model()
        users = {}
        for name, staff in USERS.items():
            user, _ = model.objects.get_or_create(username=name)
            user.is_staff = user.is_superuser = staff
            user.set_password(PASSWORD)
            user.save()
            users[name] = user
        return users

    def create_rooms(self, users: dict[str, Any]) -> None:
        lobby, created = Room.objects.get_or_create(name="lobby")
        lobby.members.add(*users.values())
        if created:
            Message.objects.create(room=lobby, author=users["ann"], text="Welcome to the lobby! Say hi.")
            Message.objects.create(room=lobby, author=users["bob"], text="Hi ann. Is the espresso machine fixed?")
        # cid is not a member here: the room list offers a Join button.
        design, _ = Room.objects.get_or_create(name="design")
        if not design.members.exists():
            design.members.add(users["ann"], users["bob"])

    def create_items(self, users: dict[str, Any]) -> None:
        specs = [
            ("Espresso machine", "ann", ["bob"], "The one in the kitchen. It leaks a little."),
            ("Road bike", "bob", ["cid"], "Steel frame, 56 cm, new tyres."),
            ("Bookshelf", "cid", [], "Oak, five shelves. Free to a good home."),
        ]
        for title, owner, watchers, description in specs:
            item, created = Item.objects.get_or_create(
                title=title, defaults={"owner": users[owner], "description": description}
            )
            if created:
                item.watchers.add(*(users[name] for name in watchers))

    def create_transactions(self) -> None:
        if Transaction.objects.exists():
            return
        today = timezone.localdate()
        rng = random.Random(7)  # the same believable history on every machine
        clients = ["Acme Corp", "Globex", "Initech", "Umbrella", "Stark Industries", "Wayne Enterprises"]
        for weeks_back in range(7, 0, -1):
            for _ in range(rng.randint(2, 4)):
                day = today - datetime.timedelta(weeks=weeks_back, days=rng.randint(0, 6))
                amount = Decimal(rng.randrange(200, 1600, 25))
                description = f"Invoice {rng.choice(clients)}"
                Transaction.objects.create(description=description, amount=amount, occurred_on=day, approved=True)
        Transaction.objects.create(description="Invoice Globex", amount=Decimal(480), occurred_on=today, approved=True)
        pending = [("Invoice Initech", 650), ("Consulting Acme Corp", 1200), ("Invoice Umbrella", 375)]
        for description, amount in pending:
            Transaction.objects.create(description=description, amount=Decimal(amount), occurred_on=today)
