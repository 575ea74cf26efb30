"""Benchmark 2: background dispatch, events per second and the cost of one ``trigger()`` call.

With ``"DISPATCH": "background"`` a ``trigger()`` validates and encodes on the caller's thread,
then only enqueues; one sender thread per alias drains the queue in ``batch_events`` requests
of up to 10 events. This script measures, against one embedded server process:

* ``pushbridge background``: a burst of ``--events`` ``trigger()`` calls, then ``flush()``.
  Throughput is events / (first call to flush returned), i.e. until the last event was
  acknowledged by the server, not merely queued. The cost per call is measured around every
  single call on the caller's thread (``perf_counter_ns``; the timer's own cost is measured
  and reported), so it includes the GIL waits the sender thread inflicts on the caller: what
  a request thread would see.
* ``pusher SDK sync``: the SDK's ``trigger`` in a loop, the peer the target names.
* ``pusher SDK trigger_batch``: the SDK's own batching, 10 events per request, sent
  synchronously. Not the target's peer; it is here so that the reader can see how much of the
  gain is batching (which the SDK also offers, if the caller batches by hand) and how much is
  pushbridge doing it in the background without the caller changing anything.

Rounds are interleaved and ratios are taken within a round. The queue is sized to hold a whole
burst (``QUEUE_SIZE``), so nothing is dropped; the script checks ``dispatch.stats()`` for that.

Run from the repository root: ``.venv/bin/python bench/background_dispatch.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CHANNEL,
    EVENT,
    ServerProcess,
    Spread,
    configure_django,
    exit_on_sigterm,
    header,
    payload,
    percentile,
    pin_self,
    pusher_alias,
    sdk_client,
    two_cpus,
    write_result,
)

ALIAS = "bg"


def timer_overhead_ns(samples: int = 20_000) -> float:
    """Median cost of one ``perf_counter_ns()`` pair, subtracted from nothing, reported."""
    clock = time.perf_counter_ns
    durations = []
    for _ in range(samples):
        start = clock()
        durations.append(clock() - start)
    durations.sort()
    return float(durations[len(durations) // 2])


def pushbridge_burst(events: int) -> dict[str, float]:
    """``events`` background triggers back to back, then flush; per-call costs and throughput."""
    import pushbridge
    from pushbridge import dispatch

    data = payload()
    clock = time.perf_counter_ns
    costs = [0] * events
    trigger = pushbridge.trigger
    previous = dispatch.stats().get(ALIAS)  # the sender thread starts with the first trigger
    before = previous.sent if previous is not None else 0
    start = clock()
    for sequence in range(events):
        data["id"] = sequence
        began = clock()
        trigger(CHANNEL, EVENT, data, using=ALIAS)
        costs[sequence] = clock() - began
    enqueued = clock()
    if not pushbridge.flush(timeout=120):
        raise RuntimeError("background sender did not drain within 120 s")
    done = clock()
    stats = dispatch.stats()[ALIAS]
    if stats.sent - before != events or stats.dropped or stats.failed:
        raise RuntimeError(f"expected {events} sent, none dropped or failed; got {stats}")
    costs.sort()
    return {
        "events_per_s": events / ((done - start) / 1e9),
        "call_us_mean": (enqueued - start) / events / 1e3,
        "call_us_p50": percentile(costs, 0.50) / 1e3,
        "call_us_p99": percentile(costs, 0.99) / 1e3,
        "call_us_max": costs[-1] / 1e3,
        "enqueue_share": (enqueued - start) / (done - start),
    }


def sdk_loop(sdk: Any, events: int) -> dict[str, float]:
    data = payload()
    start = time.perf_counter()
    for sequence in range(events):
        data["id"] = sequence
        sdk.trigger(CHANNEL, EVENT, data)
    return {"events_per_s": events / (time.perf_counter() - start)}


def sdk_batches(sdk: Any, events: int, size: int = 10) -> dict[str, float]:
    data = payload()
    start = time.perf_counter()
    for first in range(0, events, size):
        batch = []
        for sequence in range(first, min(events, first + size)):
            data["id"] = sequence
            batch.append({"channel": CHANNEL, "name": EVENT, "data": dict(data)})
        sdk.trigger_batch(batch)
    return {"events_per_s": events / (time.perf_counter() - start)}


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="pushbridge events per round (default 5000)")
    parser.add_argument("--sdk-events", type=int, default=1500, help="SDK sync events per round (default 1500)")
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds (default 7)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server and client to CPUs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1000/300 events, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.sdk_events, args.rounds = 1000, 300, 2
    result: dict[str, Any] = {"benchmark": "background_dispatch", "config": vars(args).copy()}
    header(result, sys.argv[1:] if argv is None else argv, "background_dispatch.py")

    cpus = two_cpus() if args.pin else None
    with ServerProcess(cpu=cpus[1] if cpus else None, log_name="background_dispatch_server") as server:
        pin_self(cpus[0] if cpus else None)
        configure_django({ALIAS: pusher_alias(server.port, dispatch="background", queue_size=args.events + 100)})
        sdk = sdk_client(server.port)
        result["timer_overhead_ns"] = timer_overhead_ns()
        pushbridge_burst(min(args.events, 500))  # connection open, sender thread started
        sdk_loop(sdk, 100)
        sdk_batches(sdk, 100)

        runners = {
            "pushbridge background": lambda: pushbridge_burst(args.events),
            "pusher SDK sync": lambda: sdk_loop(sdk, args.sdk_events),
            "pusher SDK trigger_batch": lambda: sdk_batches(sdk, args.events),
        }
        names = list(runners)
        rounds: list[dict[str, Any]] = []
        for number in range(args.rounds):
            order = names[number % len(names) :] + names[: number % len(names)]
            measured: dict[str, Any] = {name: runners[name]() for name in order}
            background = measured["pushbridge background"]
            measured["ratio_vs_sdk_sync"] = background["events_per_s"] / measured["pusher SDK sync"]["events_per_s"]
            measured["ratio_vs_sdk_batch"] = (
                background["events_per_s"] / measured["pusher SDK trigger_batch"]["events_per_s"]
            )
            rounds.append(measured)
            print(
                f"round {number + 1}/{args.rounds}: background {background['events_per_s']:,.0f}/s "
                f"(call mean {background['call_us_mean']:.1f} us, p50 {background['call_us_p50']:.1f}, "
                f"p99 {background['call_us_p99']:.1f}), SDK sync {measured['pusher SDK sync']['events_per_s']:,.0f}/s, "
                f"SDK batch {measured['pusher SDK trigger_batch']['events_per_s']:,.0f}/s, "
                f"ratio {measured['ratio_vs_sdk_sync']:.1f}x",
                flush=True,
            )

    summary: dict[str, Any] = {
        name: {metric: Spread.of([r[name][metric] for r in rounds]).as_dict() for metric in rounds[0][name]}
        for name in names
    }
    for ratio in ("ratio_vs_sdk_sync", "ratio_vs_sdk_batch"):
        summary[ratio] = Spread.of([r[ratio] for r in rounds]).as_dict()
    calls = summary["pushbridge background"]
    summary["targets"] = {"ratio_vs_sdk_sync": 5.0, "call_us": 20.0}
    summary["met"] = {
        "throughput": summary["ratio_vs_sdk_sync"]["median"] >= 5.0,
        "call_cost_mean": calls["call_us_mean"]["median"] <= 20.0,
        "call_cost_p50": calls["call_us_p50"]["median"] <= 20.0,
    }
    result["rounds"] = rounds
    result["summary"] = summary
    path = write_result("background_dispatch", result)
    print(
        f"background/SDK sync: median {summary['ratio_vs_sdk_sync']['median']:.1f}x; "
        f"call mean {calls['call_us_mean']['median']:.1f} us; wrote {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
