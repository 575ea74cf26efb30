"""Benchmark 1: synchronous trigger throughput, pushbridge versus the official ``pusher`` SDK.

Both clients send ``--events`` events of ~200 bytes to one channel of the same embedded server
(``python -m pushbridge.server`` in its own process), one after the other, each ``trigger()``
returning only when the server has answered: the loop a Django view or a management command
runs with ``"DISPATCH": "sync"``.

Why it is trustworthy:

* Same server process, same payload dict, same channel, same connection pool underneath
  (urllib3's: pushbridge uses it directly, the SDK through a keep-alive ``requests.Session``),
  so the difference is each library's own work per call: validation, JSON encoding, signing,
  building and sending the request.
* Rounds are short (600 events each, ~0.5 s) and many (15), interleaved (pushbridge, SDK, SDK,
  pushbridge...), and the ratio is taken within each round, so drift of a shared machine lands
  on both sides; the CPU that other processes used during each block is recorded.
* The server is pinned to one CPU and this process to the other, so the two never queue for
  the same core; the client's CPU time per event is reported too, which CPU theft by
  neighbours does not move.

Run from the repository root: ``.venv/bin/python bench/trigger_throughput.py`` (``--quick``
for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CHANNEL,
    EVENT,
    ForeignLoad,
    ServerProcess,
    Spread,
    configure_django,
    exit_on_sigterm,
    header,
    payload,
    pin_self,
    pusher_alias,
    sdk_client,
    two_cpus,
    write_result,
)

Sender = Callable[[dict[str, Any]], object]


def timed_loop(send: Sender, events: int) -> tuple[float, float]:
    """Send ``events`` events; return (wall seconds, this process's CPU seconds)."""
    data = payload()
    wall, cpu = time.perf_counter(), time.process_time()
    for sequence in range(events):
        data["id"] = sequence
        send(data)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600, help="events per client per round (default 600)")
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds (default 15)")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured events per client first (default 300)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server and client to CPUs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 300 events, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rounds, args.warmup = 300, 2, 50
    result: dict[str, Any] = {"benchmark": "trigger_throughput", "config": vars(args).copy()}
    header(result, sys.argv[1:] if argv is None else argv, "trigger_throughput.py")

    cpus = two_cpus() if args.pin else None
    with ServerProcess(cpu=cpus[1] if cpus else None, log_name="trigger_throughput_server") as server:
        pin_self(cpus[0] if cpus else None)
        configure_django({"default": pusher_alias(server.port, dispatch="sync")})
        import pushbridge

        sdk = sdk_client(server.port)
        senders: dict[str, Sender] = {
            "pushbridge": lambda data: pushbridge.trigger(CHANNEL, EVENT, data),
            "pusher SDK": lambda data: sdk.trigger(CHANNEL, EVENT, data),
        }
        for send in senders.values():
            timed_loop(send, args.warmup)  # connections open, code paths warm

        rounds: list[dict[str, Any]] = []
        names = list(senders)
        for number in range(args.rounds):
            order = names if number % 2 == 0 else names[::-1]
            measured: dict[str, Any] = {}
            for name in order:
                server_cpu = server.cpu_seconds()
                foreign = ForeignLoad([os.getpid(), server.pid])
                wall, cpu = timed_loop(senders[name], args.events)
                measured[name] = {
                    "other_processes_cpus": foreign.cpus(),
                    "events_per_s": args.events / wall,
                    "client_cpu_us_per_event": cpu / args.events * 1e6,
                    "server_cpu_us_per_event": (server.cpu_seconds() - server_cpu) / args.events * 1e6,
                }
            measured["ratio"] = measured["pushbridge"]["events_per_s"] / measured["pusher SDK"]["events_per_s"]
            rounds.append(measured)
            print(
                f"round {number + 1}/{args.rounds}: pushbridge {measured['pushbridge']['events_per_s']:,.0f}/s, "
                f"SDK {measured['pusher SDK']['events_per_s']:,.0f}/s, ratio {measured['ratio']:.2f}",
                flush=True,
            )

    summary: dict[str, Any] = {}
    for name in names:
        summary[name] = {
            metric: Spread.of([r[name][metric] for r in rounds]).as_dict()
            for metric in ("events_per_s", "client_cpu_us_per_event", "server_cpu_us_per_event", "other_processes_cpus")
        }
    summary["ratio"] = Spread.of([r["ratio"] for r in rounds]).as_dict()
    summary["target"] = 1.0
    summary["met"] = summary["ratio"]["median"] >= 1.0
    result["rounds"] = rounds
    result["summary"] = summary
    path = write_result("trigger_throughput", result)
    print(f"ratio pushbridge/SDK: median {summary['ratio']['median']:.2f}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
