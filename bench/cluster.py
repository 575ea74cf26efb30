"""Cluster benchmark: server CPU per delivery of two pushbridge nodes on Redis against one node.

Scaling out must not make every delivery dearer. This measures, in the same run and with
:mod:`fanout`'s machinery (its load generator, rounds and checks):

* ``one node`` - ``python -m pushbridge.server``, all subscribers on it, no Redis;
* ``two nodes`` - two ``python -m pushbridge.server --redis`` processes on one ``redis-server``,
  half the subscribers on each (``--publisher-share`` moves the split). Events are published
  through the first node only, so every event also crosses Redis to reach the second node's
  subscribers (the events published together, such as one ``batch_events`` request, in one
  ``PUBLISH``).
* ``two Soketi nodes`` - the peer: two Soketi 1.6.1 processes (``tests/soketi``, installed by
  ``scripts/test``) with the cluster configuration of docs/soketi.md on the same Redis (its
  own prefix) and fanout.py's app with every limit off; same split, same publishing.

Rounds are interleaved (the two targets back to back, in turns) and compared per round. The
figure that matters is server CPU per delivery: the CPU time of every server process of a
target (both nodes for the cluster; Redis reported on its own, and added in a second ratio)
divided by the deliveries of the round. All servers and Redis are pinned to one CPU, the load
generator to the other, as in :mod:`fanout`.

Run from the repository root: ``.venv/bin/python bench/cluster.py`` (``--quick`` for a smoke run).
``--baseline DIR`` adds ``two nodes, baseline``: the same two-node cluster running the
pushbridge of another checkout (``DIR`` holds its ``pushbridge/``; e.g. ``git archive main
pushbridge | tar -x -C DIR``), on its own Redis prefix, so a change is measured against it in
the same run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from common import exit_on_sigterm, free_port, replace_between_markers  # noqa: E402
from fanout import (  # noqa: E402
    CHANNEL,
    CREDENTIALS,
    SOKETI,
    Run,
    Server,
    Target,
    machine_info,
    one_round,
    per_round_ratios,
    running,
    soketi_config,
    spread,
)
from loadgen import LoadGenerator, event_bodies  # noqa: E402

from tests.soketi.recipe import cluster_options  # noqa: E402

ONE, TWO, SOKETI_TWO = "one node", "two nodes", "two Soketi nodes"
TWO_BASELINE = "two nodes, baseline"


def node(name: str, port: int, redis_url: str | None, baseline: Path | None = None) -> Server:
    argv = [
        sys.executable, "-m", "pushbridge.server", "--host", "127.0.0.1", "--port", str(port),
        "--app-id", CREDENTIALS.app_id, "--key", CREDENTIALS.key, "--secret", CREDENTIALS.secret,
        "--log-level", "WARNING",
        # Every subscriber comes from 127.0.0.1: lift the per-address limit meant for the internet.
        "--max-connections-per-address", "0",
    ]  # fmt: skip
    if redis_url:
        argv += ["--redis", redis_url]
    if baseline is None:
        return Server(name, argv, port)
    # ``python -m`` puts the working directory first on sys.path: that checkout's package wins.
    return Server(name, [*argv, "--redis-prefix", "baseline"], port, cwd=baseline.resolve())


def soketi_node(name: str, cluster: dict[str, object]) -> Server:
    """A Soketi 1.6.1 node with fanout.py's app (limits off) and the documented cluster options."""
    port = free_port()
    return Server(name, [str(SOKETI), "start"], port, config={**soketi_config(port, CREDENTIALS), **cluster})


@dataclass
class Group:
    """Several server processes measured as one target: CPU adds up, publishing goes to the first."""

    name: str
    servers: list[Server]
    extra_cpu: list[Server] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.servers[0].port

    def cpu_seconds(self) -> float:
        return sum(server.cpu_seconds() for server in self.servers)

    def other_cpu_seconds(self) -> float:
        """CPU of what the target relies on but is not a server node (Redis)."""
        return sum(server.cpu_seconds() for server in self.extra_cpu)


def connect(generator: LoadGenerator, group: Group, subscribers: int, publisher_share: float) -> Target:
    """Connect and subscribe ``subscribers`` to the group: ``publisher_share`` of them on the
    node that gets the publish requests, the rest on the other (a lone node gets them all)."""
    on_first = subscribers if len(group.servers) == 1 else round(subscribers * publisher_share)
    target = Target(group, 0)  # type: ignore[arg-type]  # a Group stands in for a Server
    for server, share in zip(group.servers, (on_first, subscribers - on_first), strict=False):
        if share:
            target.subscribers += generator.connect("127.0.0.1", server.port, CREDENTIALS.key, share)
    generator.subscribe(target.subscribers, CHANNEL)
    return target


def benchmark(args: argparse.Namespace, groups: list[Group]) -> tuple[list[Run], dict[str, list[float]]]:
    """Interleaved rounds over ``groups``; returns the runs and each group's Redis CPU per delivery."""
    generator = LoadGenerator()
    runs: list[Run] = []
    redis_per_delivery: dict[str, list[float]] = {group.name: [] for group in groups if group.extra_cpu}
    try:
        targets = [connect(generator, group, args.subscribers, args.publisher_share) for group in groups]
        for target in targets:
            target.events = args.events
            target.bodies = event_bodies(CHANNEL, args.events, args.payload)
            target.in_flight = args.in_flight
            one_round(generator, target, -1, args.round_timeout, args.batch_ms / 1000)  # unmeasured
        for number in range(args.rounds):
            shift = number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                time.sleep(0.3)
                group = target.server
                assert isinstance(group, Group)
                redis_before = group.other_cpu_seconds()
                nodes_before = [server.cpu_seconds() for server in group.servers]
                run = one_round(generator, target, number, args.round_timeout, args.batch_ms / 1000)
                each_node = ", ".join(
                    f"{server.name} {(server.cpu_seconds() - before) * 1e6 / run.deliveries:.2f}"
                    for server, before in zip(group.servers, nodes_before, strict=True)
                )
                if group.extra_cpu:
                    used = group.other_cpu_seconds() - redis_before
                    redis_per_delivery[group.name].append(used / run.deliveries)
                runs.append(run)
                print(
                    f"round {number} {run.server:>17}: {run.rate:>9,.0f} deliveries/s, "
                    f"{1e6 / run.cpu_rate:5.2f} us server CPU per delivery ({each_node})",
                    file=sys.stderr,
                )
    finally:
        generator.close()
    return runs, redis_per_delivery


def table(runs: list[Run], redis_per_delivery: dict[str, list[float]]) -> str:
    lines = [
        "| target | deliveries/s, median (min-max) | server CPU per delivery, median | x one node (per round) "
        "| with Redis's CPU | x one node, with Redis |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    one_cost = statistics.median(1e6 / run.cpu_rate for run in runs if run.server == ONE)
    for name in dict.fromkeys(run.server for run in runs):
        mine = [run for run in runs if run.server == name]
        median, low, high = spread([run.rate for run in mine])
        cost = statistics.median(1e6 / run.cpu_rate for run in mine)
        ratios = per_round_ratios(runs, ONE, name, cpu=True)  # one node's rate / this one's = cost ratio
        ratio, r_low, r_high = spread(ratios)
        if name in redis_per_delivery:
            with_redis = cost + statistics.median(redis_per_delivery[name]) * 1e6
            redis_cells = f"{with_redis:.2f} us | {with_redis / one_cost:.2f}"
        else:
            redis_cells = "- | -"
        lines.append(
            f"| {name} | {median:,.0f} ({low:,.0f}-{high:,.0f}) | {cost:.2f} us "
            f"| {ratio:.2f} ({r_low:.2f}-{r_high:.2f}) | {redis_cells} |"
        )
    if TWO_BASELINE in redis_per_delivery and TWO in redis_per_delivery:
        versus = spread(per_round_ratios(runs, TWO_BASELINE, TWO, cpu=True))
        lines.append(
            f"\nServer CPU per delivery, two nodes against the baseline's two nodes, per round: "
            f"{versus[0]:.2f}x ({versus[1]:.2f}-{versus[2]:.2f})."
        )
    if SOKETI_TWO in redis_per_delivery and TWO in redis_per_delivery:
        versus = spread(per_round_ratios(runs, TWO, SOKETI_TWO, cpu=True))
        lines.append(
            f"\nTwo pushbridge nodes against two Soketi nodes, deliveries per server CPU-second, per round: "
            f"{versus[0]:.2f}x ({versus[1]:.2f}-{versus[2]:.2f})."
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000, help="per target, split over its nodes")
    parser.add_argument("--events", type=int, default=200, help="events per round (multiple of 10)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--payload", type=int, default=64)
    parser.add_argument("--in-flight", type=int, default=3)
    parser.add_argument("--batch-ms", type=float, default=1.0)
    parser.add_argument("--round-timeout", type=float, default=60.0)
    parser.add_argument(
        "--publisher-share",
        type=float,
        default=0.5,
        help="of a cluster's subscribers, the share on the node that gets the publish requests (0-1)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 subscribers, 50 events, 2 rounds")
    parser.add_argument("--no-soketi", dest="soketi", action="store_false", help="leave out the Soketi cluster")
    parser.add_argument("--markdown", type=Path, default=None, help="rewrite the cluster-table in this file")
    parser.add_argument(
        "--baseline", type=Path, default=None, help="also run two nodes of the pushbridge in this checkout"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.publisher_share <= 1:
        parser.error(f"--publisher-share must be between 0 and 1, not {args.publisher_share}")
    if args.quick:
        args.subscribers, args.events, args.rounds = 200, 50, 2
    return args


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * args.subscribers + 256  # every target's subscribers here, and each server's
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    redis_port = free_port()
    redis_dir = tempfile.mkdtemp(prefix="pushbridge-bench-redis-")
    redis = Server(
        "redis",
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", redis_dir],
        redis_port,
    )
    url = f"redis://127.0.0.1:{redis_port}/0"
    groups = [
        Group(ONE, [node("one", free_port(), None)]),
        Group(TWO, [node("two-a", free_port(), url), node("two-b", free_port(), url)], extra_cpu=[redis]),
    ]
    if args.baseline is not None:
        pair = [node(name, free_port(), url, args.baseline) for name in ("base-a", "base-b")]
        groups.append(Group(TWO_BASELINE, pair, extra_cpu=[redis]))
    if args.soketi and SOKETI.exists():
        options = cluster_options(redis_port)  # the cluster recipe of docs/soketi.md, this Redis
        groups.append(Group(SOKETI_TWO, [soketi_node(name, options) for name in ("soketi-a", "soketi-b")], [redis]))
    elif args.soketi:
        print(f"Soketi skipped: {SOKETI} is missing (scripts/test installs it with npm)", file=sys.stderr)
    server_cpu = None
    if shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:
        first, second = sorted(os.sched_getaffinity(0))[:2]
        server_cpu = first
        os.sched_setaffinity(0, {second})
    results = Path(tempfile.mkdtemp(prefix="pushbridge-bench-cluster-"))
    servers = [server for group in groups for server in group.servers]
    with running([redis], results, server_cpu), running(servers, results, server_cpu):
        runs, redis_per_delivery = benchmark(args, groups)
    command = " ".join([".venv/bin/python", "bench/cluster.py", *(argv if argv is not None else sys.argv[1:])])
    machine = machine_info()
    text = (
        f"Command: `{command}` ({args.subscribers} subscribers, {args.events} events a round, "
        f"{args.rounds} rounds; {machine['nproc']} CPUs, {machine['cpu']}, Python {machine['python']})\n\n"
        + table(runs, redis_per_delivery)
    )
    print(f"\n{text}")
    if args.markdown is not None and replace_between_markers(args.markdown, "cluster-table", text):
        print(f"updated the table in {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
