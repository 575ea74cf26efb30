"""Benchmark 6: what the async API costs, and whether the event loop stays free.

``await pushbridge.atrigger()`` runs the sync ``trigger()`` in a worker thread. This measures,
against the same embedded server (its own process, pinned to the other CPU):

* ``trigger()``, sync, one after another: the baseline;
* ``await atrigger()``, one after another: baseline + the thread hop;
* ``await atrigger()``, 10 in flight (``asyncio.gather``): what concurrency buys;
* the peer: the official ``pusher`` SDK's own async backend (``pusher.aiohttp.AsyncIOBackend``),
  one after another and 10 in flight, in the same loop.

and, for every async mode, the event loop's lag: a ticker coroutine asks to wake every 1 ms,
and the lag is how late it woke (p99 and max). A loop blocked by a send would show the whole
request time there.

Why it is trustworthy: same server, payload and channel for every mode; short rounds (300
events) interleaved in a rotating order, so a neighbour's burst lands on all modes; medians
over rounds, with the CPU other processes used recorded per round.

Run from the repository root: ``.venv/bin/python bench/async_trigger.py`` (``--quick`` for a
smoke run). It rewrites its table in BENCHMARKS.md between ``<!-- async-table:begin -->`` and
``<!-- async-table:end -->``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    APP_ID,
    CHANNEL,
    EVENT,
    KEY,
    ROOT,
    SECRET,
    ForeignLoad,
    ServerProcess,
    Spread,
    configure_django,
    exit_on_sigterm,
    header,
    payload,
    percentile,
    pin_self,
    pusher_alias,
    replace_between_markers,
    two_cpus,
    write_result,
)

IN_FLIGHT = 10
TICK = 0.001


class LoopLag:
    """How late a coroutine that sleeps ``TICK`` at a time wakes up, while the loop does other work."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(TICK)
            self.lags.append(max(0.0, loop.time() - asked - TICK))

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def sequential(send: Callable[[dict[str, Any]], Awaitable[object]], events: int) -> None:
    data = payload()
    for sequence in range(events):
        data["id"] = sequence
        await send(data)


async def concurrent(send: Callable[[dict[str, Any]], Awaitable[object]], events: int) -> None:
    for start in range(0, events, IN_FLIGHT):
        await asyncio.gather(*(send(payload(sequence)) for sequence in range(start, min(events, start + IN_FLIGHT))))


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="events per mode per round (default 300)")
    parser.add_argument("--rounds", type=int, default=8, help="measured rounds (default 8)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server and client to CPUs")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md", help="file whose table to rewrite")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 events, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.rounds = 100, 2
    result: dict[str, Any] = {"benchmark": "async_trigger", "config": {k: str(v) for k, v in vars(args).items()}}
    header(result, sys.argv[1:] if argv is None else argv, "async_trigger.py")

    cpus = two_cpus() if args.pin else None
    with ServerProcess(cpu=cpus[1] if cpus else None, log_name="async_trigger_server") as server:
        pin_self(cpus[0] if cpus else None)
        configure_django({"default": pusher_alias(server.port, dispatch="sync")})
        rounds = asyncio.run(measure(server, args.events, args.rounds))

    modes = list(rounds[0])
    summary: dict[str, Any] = {
        mode: {metric: Spread.of([r[mode][metric] for r in rounds]).as_dict() for metric in rounds[0][mode]}
        for mode in modes
    }
    one, sync = "await atrigger(), one at a time", "trigger(), sync"
    # The hop in client CPU (what it costs the process, whatever the neighbours do) and in wall time.
    summary["thread_hop_cpu_us"] = Spread.of(
        [r[one]["client_cpu_us_per_event"] - r[sync]["client_cpu_us_per_event"] for r in rounds]
    ).as_dict()
    summary["thread_hop_us"] = Spread.of([r[one]["us_per_event"] - r[sync]["us_per_event"] for r in rounds]).as_dict()
    result["rounds"] = rounds
    result["summary"] = summary
    path = write_result("async_trigger", result)
    table = render(result)
    print(table)
    if replace_between_markers(args.markdown, "async-table", table):
        print(f"updated the table in {args.markdown}")
    print(f"wrote {path}")
    return 0


async def measure(server: ServerProcess, events: int, rounds: int) -> list[dict[str, Any]]:
    import pusher
    import pusher.aiohttp

    import pushbridge

    sdk = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=server.port, ssl=False,
                        backend=pusher.aiohttp.AsyncIOBackend)  # fmt: skip

    async def sync_trigger(data: dict[str, Any]) -> object:
        return pushbridge.trigger(CHANNEL, EVENT, data)  # blocks the loop: the baseline only

    async def atrigger(data: dict[str, Any]) -> object:
        return await pushbridge.atrigger(CHANNEL, EVENT, data)

    async def sdk_trigger(data: dict[str, Any]) -> object:
        return await sdk.trigger(CHANNEL, EVENT, data)

    plans: dict[str, tuple[Callable[..., Awaitable[None]], Callable[[dict[str, Any]], Awaitable[object]]]] = {
        "trigger(), sync": (sequential, sync_trigger),
        "await atrigger(), one at a time": (sequential, atrigger),
        f"await atrigger(), {IN_FLIGHT} in flight": (concurrent, atrigger),
        "pusher SDK aiohttp, one at a time": (sequential, sdk_trigger),
        f"pusher SDK aiohttp, {IN_FLIGHT} in flight": (concurrent, sdk_trigger),
    }
    for shape, send in plans.values():  # warm up: connections open, threads started
        await shape(send, 50)
    names = list(plans)
    measured_rounds: list[dict[str, Any]] = []
    for number in range(rounds):
        order = names[number % len(names) :] + names[: number % len(names)]
        measured: dict[str, Any] = {}
        for name in order:
            shape, send = plans[name]
            foreign = ForeignLoad([os.getpid(), server.pid])
            with LoopLag() as lag:
                wall, cpu = time.perf_counter(), time.process_time()
                await shape(send, events)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            lags = sorted(lag.lags) or [0.0]
            measured[name] = {
                "events_per_s": events / wall,
                "us_per_event": wall / events * 1e6,
                "client_cpu_us_per_event": cpu / events * 1e6,
                "loop_lag_p99_ms": percentile(lags, 0.99) * 1e3,
                "loop_lag_max_ms": lags[-1] * 1e3,
                "other_processes_cpus": foreign.cpus(),
            }
        measured_rounds.append(measured)
        print(
            f"round {number + 1}/{rounds}: " + ", ".join(f"{n} {m['events_per_s']:,.0f}/s" for n, m in measured.items())
        )
    return measured_rounds


def render(result: dict[str, Any]) -> str:
    summary = result["summary"]
    lines = [
        f"Command: `{result['command']}` ({result['started']}); medians over rounds (min-max).",
        "",
        "| mode | events/s | µs per event | client CPU µs/event | loop lag p99 ms | loop lag max ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mode, metrics in summary.items():
        if mode.startswith("thread_hop"):
            continue
        sync = mode == "trigger(), sync"
        lag_p99 = "blocked" if sync else Spread(**_spread(metrics["loop_lag_p99_ms"])).cell("{:.1f}")
        lag_max = "blocked" if sync else Spread(**_spread(metrics["loop_lag_max_ms"])).cell("{:.1f}")
        lines.append(
            f"| {mode} | {Spread(**_spread(metrics['events_per_s'])).cell()} "
            f"| {Spread(**_spread(metrics['us_per_event'])).cell()} "
            f"| {Spread(**_spread(metrics['client_cpu_us_per_event'])).cell()} | {lag_p99} | {lag_max} |"
        )
    cpu, wall = Spread(**_spread(summary["thread_hop_cpu_us"])), Spread(**_spread(summary["thread_hop_us"]))
    others = [summary[mode]["other_processes_cpus"]["median"] for mode in summary if not mode.startswith("thread_hop")]
    lines += [
        "",
        f"The thread hop of `atrigger()` over `trigger()`, per event: {cpu.cell()} µs of client CPU, "
        f"{wall.cell()} µs of wall time (per-round differences). Other processes kept "
        f"{min(others):.2f}-{max(others):.2f} CPUs busy (medians per mode) during the rounds.",
    ]
    return "\n".join(lines) + "\n"


def _spread(values: dict[str, float]) -> dict[str, Any]:
    return {"median": values["median"], "low": values["min"], "high": values["max"], "q1": values["q1"],
            "q3": values["q3"], "n": int(values["n"])}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
