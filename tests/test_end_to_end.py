"""End to end: Django -> embedded server -> an unmodified pysher client.

A model saved in a real transaction reaches pysher through the embedded server, and a private
channel is authorised by pushbridge's real auth view, served by Django's live server, with the
session cookie and CSRF token a browser would send.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pysher
import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client, override_settings

import pushbridge
from pushbridge import auth
from pushbridge.server import EmbeddedServer
from tests.server.peers import PysherPeer
from tests.testapp.models import Message, Room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.peers]

KEY, SECRET = "e2e-key", "e2e-secret"


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    embedded = EmbeddedServer(port=0, app_id="e2e", key=KEY, secret=SECRET)
    embedded.start_in_thread()
    yield embedded
    embedded.stop()


@pytest.fixture(autouse=True)
def pointed_at_server(server: EmbeddedServer) -> Iterator[None]:
    entry = {"BACKEND": "embedded", "PORT": server.port, "APP_ID": "e2e", "KEY": KEY, "SECRET": SECRET}
    with override_settings(PUSHBRIDGE={"default": entry}):
        yield


@pytest.fixture
def peer(server: EmbeddedServer) -> Iterator[PysherPeer]:
    client = PysherPeer("127.0.0.1", server.port, KEY, secret="")
    yield client.connect()
    client.close()


def test_model_save_reaches_pysher_after_commit(peer: PysherPeer) -> None:
    room = Room.objects.create(name="e2e")
    ann = User.objects.create_user("ann")
    peer.subscribe(f"room-{room.pk}", "show-message")
    with transaction.atomic():
        message = Message.objects.create(room=room, author=ann, text="hello over the wire")
        message.text = "hello, final"
        message.save()
    received = peer.log.wait_for(lambda e: e["event"] == "show-message", what="show-message")
    assert json.loads(received["data"]) == {"id": message.pk, "text": "hello, final", "author.username": "ann"}
    assert len(peer.events(f"room-{room.pk}", "show-message")) == 1


def test_private_channel_authorised_by_the_real_auth_view(live_server: Any, peer: PysherPeer) -> None:
    ann = User.objects.create_user("ann", password="pw")
    channel = f"private-user.{ann.pk}"
    saved = list(auth.rules)
    pushbridge.channel("private-user.{user_id:int}")(lambda user, user_id: user.pk == user_id)
    session = Client()
    session.force_login(ann)
    token = _get_new_csrf_string()
    client: pysher.Pusher = peer.client
    client.secret = ""  # sign nothing locally: ask Django
    client.auth_endpoint = f"{live_server.url}/pushbridge/auth/"
    client.auth_endpoint_headers = {
        "Cookie": f"sessionid={session.cookies['sessionid'].value}; csrftoken={token}",
        "X-CSRFToken": token,
    }
    try:
        peer.subscribe(channel, "notice")
        assert peer.events(channel, "pusher_internal:subscription_succeeded")
        pushbridge.trigger(channel, "notice", {"text": "only for ann"})
        received = peer.log.wait_for(lambda e: e["event"] == "notice", what="notice")
        assert json.loads(received["data"]) == {"text": "only for ann"}
    finally:
        auth.rules[:] = saved


def test_pushbridge_url_script_without_django_settings(server: EmbeddedServer, peer: PysherPeer) -> None:
    """The issue's promise: PUSHBRIDGE_URL=... python -c "import pushbridge; pushbridge.trigger(...)"."""
    peer.subscribe("from-a-script", "e")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PUSHBRIDGE_URL"] = f"http://{KEY}:{SECRET}@127.0.0.1:{server.port}/apps/e2e"
    result = subprocess.run(
        [sys.executable, "-c", "import pushbridge; pushbridge.trigger('from-a-script', 'e', {'x': 1})"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert peer.log.wait_for(lambda e: e["event"] == "e")["data"] == '{"x":1}'
