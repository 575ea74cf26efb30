"""``HOSTS``: an alias lists several Soketi hosts and fails over when one refuses connections."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

import pushbridge
from pushbridge.backends import get_backend
from pushbridge.errors import BackendUnavailable
from tests.services.process import free_port
from tests.soketi.conftest import settings_for

pytestmark = pytest.mark.peers


def test_a_refusing_host_is_skipped_and_the_answering_one_kept(soketi, pysher_peer, unique):
    channel = unique("room")
    peer = pysher_peer()
    peer.subscribe(channel, "e")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: connections are refused
    entry = settings_for(soketi, HOST=None, HOSTS=[dead, f"127.0.0.1:{soketi.port}"], RETRIES=0)
    with override_settings(PUSHBRIDGE={"default": entry}):
        pushbridge.trigger(channel, "e", {"n": 1})
        assert get_backend().base_url == soketi.url  # type: ignore[attr-defined]
        pushbridge.trigger(channel, "e", {"n": 2})  # straight to the host that answered
    seen = peer.log.wait_count(lambda e: e["event"] == "e", 2)
    assert [json.loads(e["data"])["n"] for e in seen] == [1, 2]


def test_every_host_refusing_is_unavailable():
    hosts = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    entry = {"BACKEND": "soketi", "HOSTS": hosts, "RETRIES": 0}
    with override_settings(PUSHBRIDGE={"default": entry}), pytest.raises(BackendUnavailable) as caught:
        pushbridge.trigger("room", "e", 1)
    assert caught.value.retryable
