"""The memory fake: pushbridge.outbox, in-process subscribers, thread safety, real limits."""

from __future__ import annotations

import threading

import pytest
from django.test import override_settings

import pushbridge
from pushbridge.backends import memory
from pushbridge.errors import PayloadTooLarge


def test_outbox_gets_one_record_per_channel() -> None:
    pushbridge.trigger(["a", "b"], "e", {"x": 1}, socket_id="1.2")
    assert [(m.channel, m.event, m.data, m.socket_id) for m in pushbridge.outbox] == [
        ("a", "e", {"x": 1}, "1.2"),
        ("b", "e", {"x": 1}, "1.2"),
    ]
    assert pushbridge.outbox[0].raw_data == '{"x":1}'
    assert pushbridge.outbox[0].using == "default"


def test_plain_text_data_is_kept_as_text() -> None:
    pushbridge.trigger("a", "e", "hello")
    assert pushbridge.outbox[0].data == "hello"


def test_batch_lands_in_order() -> None:
    pushbridge.trigger_batch([pushbridge.Event("a", "e", i) for i in range(25)])
    assert [m.data for m in pushbridge.outbox] == list(range(25))


def test_reassigned_outbox_is_the_one_filled() -> None:
    pushbridge.outbox = []
    pushbridge.trigger("a", "e", 1)
    assert len(pushbridge.outbox) == 1


def test_invalid_events_never_reach_the_outbox() -> None:
    with pytest.raises(PayloadTooLarge):
        pushbridge.trigger("a", "e", "x" * 20000)
    assert pushbridge.outbox == []


def test_in_process_subscribers() -> None:
    seen: list[object] = []
    every: list[str] = []
    stop = memory.subscribe("room", lambda m: seen.append(m.data))
    stop_all = memory.subscribe(None, lambda m: every.append(m.channel))
    try:
        pushbridge.trigger(["room", "other"], "e", {"n": 1})
        assert pushbridge.channel_info("room", info="subscription_count") == {"occupied": True, "subscription_count": 1}
        assert "room" in pushbridge.channels()
    finally:
        stop()
        stop_all()
    pushbridge.trigger("room", "e", {"n": 2})
    assert seen == [{"n": 1}]
    assert every == ["room", "other"]
    assert pushbridge.channel_info("room") == {"occupied": False}


def test_thread_safe_under_concurrent_triggers() -> None:
    def worker(n: int) -> None:
        for i in range(200):
            pushbridge.trigger(f"c{n}", "e", i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pushbridge.outbox) == 1600
    for n in range(8):
        assert [m.data for m in pushbridge.outbox if m.channel == f"c{n}"] == list(range(200))


def test_aliases_are_recorded() -> None:
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "memory"}, "other": {"BACKEND": "memory"}}):
        pushbridge.trigger("a", "e", 1, using="other")
    assert pushbridge.outbox[0].using == "other"


def test_send_to_user_and_terminate() -> None:
    pushbridge.send_to_user(7, "notice", {"n": 1})
    assert pushbridge.outbox[0].channel == "#server-to-user-7"
    pushbridge.terminate_user_connections(7)
    assert pushbridge.channel_users("presence-x") == []


def test_encrypted_channel_needs_the_master_key_even_in_memory() -> None:
    from pushbridge.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="ENCRYPTION_MASTER_KEY"):
        pushbridge.trigger("private-encrypted-x", "e", 1)
    assert pushbridge.outbox == []
