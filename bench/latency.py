"""Benchmark 3: end-to-end latency, from ``trigger()`` to receipt in 100 pusher-js clients.

Three processes on one machine:

* the embedded server (``python -m pushbridge.server``);
* ``bench/latency_clients.js``: 100 unmodified pusher-js clients in one Node process,
  subscribed to one channel; each records, for every event, the receipt time minus the send
  time carried in the event;
* this process, the sender: a steady ``--rate`` (200) events per second for ``--seconds``
  (10), i.e. 20,000 deliveries per second, each event stamped with ``time.monotonic_ns()``
  immediately before ``trigger()`` is called.

Both sides read CLOCK_MONOTONIC (Python's ``time.monotonic_ns``, Node's
``process.hrtime.bigint``), so the difference of the two is the latency with nanosecond
resolution and no wall-clock steps; the script checks that the clocks agree before measuring
(the Node reading must fall between two Python readings taken around the request).

Senders compared, interleaved within each round, same server, same clients:

* ``pushbridge sync``: ``"DISPATCH": "sync"``, the request waits for the HTTP reply;
* ``pushbridge background``: ``"DISPATCH": "background"``, the sender thread does the HTTP;
* ``pusher SDK``: the official SDK's ``trigger``.

Reported per sender: p50, p99, p99.9 and max over every delivery of every round, and the p99
of each round (its spread), plus the CPU used by the server and by the Node clients, so that
a reader can tell a slow server from a saturated client process.

Run from the repository root: ``.venv/bin/python bench/latency.py`` (needs Node.js and
``npm ci --prefix tests/node``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH,
    CHANNEL,
    EVENT,
    KEY,
    NODE_DIR,
    ROOT,
    ForeignLoad,
    ServerProcess,
    Spread,
    configure_django,
    exit_on_sigterm,
    header,
    payload,
    percentile,
    pusher_alias,
    sdk_client,
    write_result,
)

Sender = Callable[[dict[str, Any]], object]


class NodeClients:
    """The Node process and a line-reading thread, so that every wait on it has a timeout."""

    def __init__(self, port: int, clients: int, argv: list[str] | None = None) -> None:
        """``argv``: another client script speaking the same line protocol (bench/catchup.py's)."""
        if argv is None:
            script = str(BENCH / "latency_clients.js")
            argv = ["node", script, "127.0.0.1", str(port), KEY, CHANNEL, EVENT, str(clients)]
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def expect(self, kind: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise RuntimeError(f"Node clients: no {kind!r} reply within {timeout} s (exit {self.process.poll()})")
            try:
                message = json.loads(self.lines.get(timeout=remaining))
            except queue.Empty:
                continue
            if message.get("type") == kind:
                return message

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send({"op": "exit"})
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@contextlib.contextmanager
def node_clients(port: int, clients: int) -> Iterator[NodeClients]:
    node = NodeClients(port, clients)
    try:
        node.expect("ready", timeout=60)
        yield node
    finally:
        node.close()


def check_clocks(node: NodeClients, samples: int = 20) -> dict[str, float]:
    """The Node reading must lie between two Python readings; else the clocks differ."""
    worst_outside = 0.0
    round_trips = []
    for _ in range(samples):
        before = time.monotonic_ns()
        node.send({"op": "clock"})
        now = int(node.expect("clock", timeout=10)["now"])
        after = time.monotonic_ns()
        round_trips.append((after - before) / 1e3)
        worst_outside = max(worst_outside, (before - now) / 1e3, (now - after) / 1e3)
    if worst_outside > 0:
        raise RuntimeError(f"Node's hrtime is not Python's CLOCK_MONOTONIC: off by {worst_outside:.0f} us")
    return {"round_trip_us_median": sorted(round_trips)[len(round_trips) // 2], "outside_us": worst_outside}


def paced_round(send: Sender, round_id: str, rate: float, events: int, pad: int) -> dict[str, float]:
    """Send ``events`` at ``rate`` per second on a fixed schedule; time each ``trigger()`` call."""
    period_ns = int(1e9 / rate)
    calls = [0] * events
    late = 0
    start = time.monotonic_ns() + 20_000_000
    for sequence in range(events):
        due = start + sequence * period_ns
        wait = due - time.monotonic_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        else:
            late = max(late, -wait)
        stamp = time.monotonic_ns()
        send({"r": round_id, "s": sequence, "t": str(stamp), "pad": "x" * pad})
        calls[sequence] = time.monotonic_ns() - stamp
    elapsed = (time.monotonic_ns() - start) / 1e9
    calls.sort()
    return {
        "achieved_rate": events / elapsed,
        "max_lateness_ms": late / 1e6,
        "call_us_p50": percentile(calls, 0.5) / 1e3,
        "call_us_p99": percentile(calls, 0.99) / 1e3,
    }


def summarize(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": percentile(ordered, 0.50) / 1e3,
        "p90_ms": percentile(ordered, 0.90) / 1e3,
        "p99_ms": percentile(ordered, 0.99) / 1e3,
        "p999_ms": percentile(ordered, 0.999) / 1e3,
        "max_ms": ordered[-1] / 1e3,
    }


def cdf_points(latencies: list[float], points: int = 400) -> list[list[float]]:
    """(latency ms, fraction) pairs dense in the tail, enough to draw the CDF without 200k points."""
    ordered = sorted(latencies)
    n = len(ordered)
    fractions = sorted({1 - 10 ** (-4 * i / points) for i in range(points)} | {i / 100 for i in range(100)})
    return [[ordered[min(n - 1, int(f * n))] / 1e3, f] for f in fractions] + [[ordered[-1] / 1e3, 1.0]]


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100, help="pusher-js clients (default 100)")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second (default 200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per round and sender (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s rounds, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = 2.0, 1
    if not (NODE_DIR / "node_modules" / "pusher-js").is_dir():
        raise SystemExit("pusher-js is missing: run npm ci --prefix tests/node")
    result: dict[str, Any] = {"benchmark": "latency", "config": vars(args).copy()}
    header(result, sys.argv[1:] if argv is None else argv, "latency.py")
    events = int(args.rate * args.seconds)
    if events > 1 << 17:
        parser.error("at most 131072 events per round (the clients' per-event table)")
    pad = max(0, 200 - len(json.dumps(payload(size=0) | {"r": "r0-x", "s": 0, "t": str(time.monotonic_ns())})))

    with ServerProcess(log_name="latency_server") as server:
        configure_django(
            {
                "default": pusher_alias(server.port, dispatch="sync"),
                "bg": pusher_alias(server.port, dispatch="background"),
            }
        )
        import pushbridge

        sdk = sdk_client(server.port)
        senders: dict[str, Sender] = {
            "pushbridge sync": lambda data: pushbridge.trigger(CHANNEL, EVENT, data),
            "pushbridge background": lambda data: pushbridge.trigger(CHANNEL, EVENT, data, using="bg"),
            "pusher SDK": lambda data: sdk.trigger(CHANNEL, EVENT, data),
        }
        with node_clients(server.port, args.clients) as node:
            result["clock_check"] = check_clocks(node)
            for send in senders.values():  # warm-up: connections, code paths, the clients' JIT
                paced_round(send, "warmup", args.rate, int(args.rate), pad)
            pushbridge.flush(10)

            names = list(senders)
            rounds: list[dict[str, Any]] = []
            pooled: dict[str, list[float]] = {name: [] for name in names}
            pooled_first: dict[str, list[float]] = {name: [] for name in names}
            for number in range(args.rounds):
                order = names[number % len(names) :] + names[: number % len(names)]
                measured: dict[str, Any] = {}
                for name in order:
                    round_id = f"r{number}-{names.index(name)}"
                    node.send({"op": "start", "round": round_id})
                    node.expect("started", timeout=10)
                    server_cpu = server.cpu_seconds()
                    foreign = ForeignLoad([os.getpid(), node.process.pid, server.pid])
                    sending = paced_round(senders[name], round_id, args.rate, events, pad)
                    if not pushbridge.flush(30):
                        raise RuntimeError("background sender did not drain within 30 s")
                    other_cpus = foreign.cpus()
                    expected = events * args.clients
                    node.send({"op": "end", "expect": expected, "timeout_ms": 15_000})
                    samples = node.expect("samples", timeout=60)
                    latencies = samples["latencies_us"]
                    firsts = [value for value in samples["first_us"] if value is not None]
                    duration = args.seconds
                    measured[name] = {
                        **sending,
                        **summarize(latencies),
                        "first_client_p50_ms": percentile(sorted(firsts), 0.5) / 1e3,
                        "first_client_p99_ms": percentile(sorted(firsts), 0.99) / 1e3,
                        "received": samples["received"],
                        "expected": expected,
                        "server_cpu_share": (server.cpu_seconds() - server_cpu) / duration,
                        "clients_cpu_share": samples["cpu_ms"] / 1e3 / duration,
                        "other_processes_cpus": other_cpus,
                    }
                    pooled[name].extend(latencies)
                    pooled_first[name].extend(firsts)
                    m = measured[name]
                    print(
                        f"round {number + 1}/{args.rounds} {name}: p50 {m['p50_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms, "
                        f"max {m['max_ms']:.1f} ms; {m['received']}/{expected} delivered; "
                        f"{m['achieved_rate']:.0f} ev/s; server CPU {m['server_cpu_share']:.0%}, "
                        f"clients CPU {m['clients_cpu_share']:.0%}; others {m['other_processes_cpus']:.2f} CPUs",
                        flush=True,
                    )
                rounds.append(measured)

    summary: dict[str, Any] = {}
    for name in names:
        per_round = {
            metric: Spread.of([r[name][metric] for r in rounds]).as_dict()
            for metric in rounds[0][name]
            if isinstance(rounds[0][name][metric], float)
        }
        summary[name] = {
            "pooled": summarize(pooled[name]),
            "first_client": summarize(pooled_first[name]),
            "per_round": per_round,
            "deliveries": len(pooled[name]),
            "lost": sum(r[name]["expected"] - r[name]["received"] for r in rounds),
            "cdf": cdf_points(pooled[name]),
        }
    summary["target_p99_ms"] = 10.0
    # Judged on the median round, as every other table is: a neighbour's burst in one round
    # (see other_processes_cpus) should not decide it; the pooled p99 is reported beside it.
    summary["met"] = {name: summary[name]["per_round"]["p99_ms"]["median"] <= 10.0 for name in names}
    summary["met_pooled"] = {name: summary[name]["pooled"]["p99_ms"] <= 10.0 for name in names}
    result["rounds"] = rounds
    result["summary"] = summary
    path = write_result("latency", result)
    for name in names:
        stats = summary[name]["pooled"]
        print(f"{name}: p50 {stats['p50_ms']:.2f} ms, p99 {stats['p99_ms']:.2f} ms, max {stats['max_ms']:.1f} ms")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
