"""Counts per address forget an address when its count reaches zero, so they cannot grow forever."""

from __future__ import annotations

from pushbridge.engine.tally import Tally


def test_counts_per_key_and_forgets_keys_at_zero() -> None:
    tally = Tally()
    tally.add("10.0.0.1")
    tally.add("10.0.0.1")
    tally.add("10.0.0.2")
    assert (tally["10.0.0.1"], tally["10.0.0.2"], len(tally)) == (2, 1, 2)
    tally.remove("10.0.0.1")
    tally.remove("10.0.0.2")
    assert (tally["10.0.0.1"], tally["10.0.0.2"], len(tally)) == (1, 0, 1)
    tally.remove("10.0.0.1")
    assert len(tally) == 0


def test_removing_an_unknown_key_never_goes_below_zero() -> None:
    tally = Tally()
    tally.remove("10.0.0.9")
    assert (tally["10.0.0.9"], len(tally)) == (0, 0)
    tally.add("10.0.0.9")
    assert tally["10.0.0.9"] == 1


def test_many_addresses_that_come_and_go_leave_nothing_behind() -> None:
    tally = Tally()
    for number in range(10_000):
        address = f"10.{number // 65536}.{number // 256 % 256}.{number % 256}"
        tally.add(address)
        tally.remove(address)
    assert len(tally) == 0
