"""What crossing Redis costs a cluster node in CPU, per publish and per message it reads.

Three measurements, each against a local ``redis-server`` started here and pinned to the same
CPU as the code measured (as ``bench/cluster.py`` pins its servers), the other side on the
other CPU:

* ``pipeline`` - what the node's writer did before: a redis-py pipeline holding one
  ``PUBLISH`` of a ten-event cluster message, executed; client CPU per round trip;
* ``writer`` - the node's writer now, :class:`pushbridge.engine.redis_writer.CommandWriter`,
  sending the same command;
* ``reading node`` - a ``python -m pushbridge.server --redis`` node with no subscribers while
  another process publishes such messages one at a time (one wake-up each); the node's CPU
  per message. It is the floor of what a node pays for every request published elsewhere.
  Once as nodes run (RESP2), once with ``?protocol=3`` in the Redis URL (redis-py 8's own
  default, RESP3).

The first two run in rounds, interleaved (``--rounds``); each figure is the median over the
rounds with its range.

Run from the repository root: ``.venv/bin/python bench/redis_round_trip.py``
(``--markdown BENCHMARKS.md`` rewrites the redis-round-trip-table there).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import redis  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from common import (  # noqa: E402
    APP_ID,
    ServerProcess,
    Spread,
    exit_on_sigterm,
    free_port,
    machine_info,
    pin_self,
    replace_between_markers,
    two_cpus,
)
from fanout import Server  # noqa: E402

from pushbridge.engine.cluster_wire import Keys, events_message  # noqa: E402
from pushbridge.engine.redis_writer import CommandWriter  # noqa: E402

PREFIX = "bench"
CHANNEL = Keys(PREFIX).bus


def cluster_message(events: int = 10) -> str:
    """A ``pubs`` message of ``events`` small events, as a node publishes a ``batch_events`` request."""
    frame = json.dumps({"event": "e", "channel": "bench", "data": json.dumps({"seq": 1, "pad": "x" * 40})})
    return events_message("other-node", APP_ID, [("bench", None, None, frame)] * events)


async def client_cpu_per_round_trip(url: str, how: str, count: int, message: str) -> float:
    """Microseconds of this process's CPU per round trip, ``how`` being "pipeline" or "writer"."""
    client = aioredis.Redis.from_url(url, decode_responses=True, protocol=2)
    writer = CommandWriter(client, 10.0)
    try:
        await client.ping()
        await writer.send([("PING",)])
        started = time.process_time()
        for _ in range(count):
            if how == "pipeline":
                pipe = client.pipeline(transaction=False)
                pipe.publish(CHANNEL, message)
                await pipe.execute(raise_on_error=False)
            else:
                await writer.send([("PUBLISH", CHANNEL, message)])
        return (time.process_time() - started) / count * 1e6
    finally:
        await writer.close()
        await client.aclose()


def reading_node_cpu_per_message(redis_url: str, cpu: int | None, count: int, message: str) -> float:
    """Microseconds of a node's CPU per message it reads and has nobody to deliver to."""
    options = ["--redis", redis_url, "--redis-prefix", PREFIX]
    with ServerProcess(cpu=cpu, log_name="redis_round_trip_node", extra_args=options) as node:
        publisher = redis.Redis.from_url(redis_url.partition("?")[0])
        try:
            for _ in range(200):  # warm-up
                publisher.publish(CHANNEL, message)
                time.sleep(0.0005)
            before = node.cpu_seconds()
            for _ in range(count):
                publisher.publish(CHANNEL, message)
                time.sleep(0.0005)  # one message per wake-up, as when requests arrive one by one
            time.sleep(0.2)
            return (node.cpu_seconds() - before) / count * 1e6
        finally:
            publisher.close()


def cell(values: list[float]) -> str:
    return Spread.of(values).cell("{:.0f}").replace(" (", " µs (", 1)


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=3000, help="round trips (messages) per round")
    parser.add_argument("--markdown", type=Path, default=None, help="rewrite the redis-round-trip-table here")
    args = parser.parse_args(argv)
    cpus = two_cpus()
    measured_cpu, other_cpu = cpus if cpus else (None, None)
    logs = Path(tempfile.mkdtemp(prefix="pushbridge-bench-redis-"))
    redis_port = free_port()
    redis_server = Server(
        "redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(logs)],
        redis_port,
    )  # fmt: skip
    message = cluster_message()
    url = f"redis://127.0.0.1:{redis_port}/0"
    results: dict[str, list[float]] = {"pipeline": [], "writer": [], "RESP2": [], "RESP3": []}
    redis_server.start(logs, measured_cpu)
    try:
        pin_self(measured_cpu)
        for _ in range(args.rounds):
            for how in ("pipeline", "writer"):
                results[how].append(asyncio.run(client_cpu_per_round_trip(url, how, args.count, message)))
        # The publisher is this process now: off the node's CPU.
        pin_self(other_cpu)
        for _ in range(args.rounds):
            for protocol, query in (("RESP2", ""), ("RESP3", "?protocol=3")):
                results[protocol].append(reading_node_cpu_per_message(url + query, measured_cpu, args.count, message))
    finally:
        redis_server.stop()
    machine = machine_info()
    command = " ".join([".venv/bin/python", "bench/redis_round_trip.py", *(argv if argv is not None else sys.argv[1:])])
    text = "\n".join(
        [
            f"Command: `{command}` ({args.rounds} rounds of {args.count}; {machine['cpus']} CPUs, "
            f"{machine['cpu']}, Python {machine['python']}, redis-py {redis.__version__}, commit {machine['commit']})",
            "",
            "| what | CPU, median (min-max) |",
            "|---|---:|",
            f"| publishing through a redis-py pipeline, per round trip | {cell(results['pipeline'])} |",
            f"| publishing through the node's writer, per round trip | {cell(results['writer'])} |",
            f"| a node reading a message it has nobody to deliver to | {cell(results['RESP2'])} |",
            f"| the same, the node told to speak RESP3 (`?protocol=3`) | {cell(results['RESP3'])} |",
        ]
    )
    print(text)
    if args.markdown is not None and replace_between_markers(args.markdown, "redis-round-trip-table", text):
        print(f"updated the table in {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
