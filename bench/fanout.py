"""Fan-out benchmark: deliveries per second from one channel to N subscribers, and memory per idle connection.

The servers are measured in the same run, with the same load generator and publisher:

* ``ceiling``  - :mod:`ceiling_server`: encodes each message once and ``transport.write``\\s the
  same frame to every subscriber; the most a Python asyncio server can do on this machine.
* ``pushbridge`` - ``python -m pushbridge.server``, the server under test, through its CLI.
* ``soketi`` - Soketi 1.6.1 (uWebSockets.js), the self-hosted peer, installed from npm by
  ``scripts/test`` into ``tests/soketi/`` with every app limit off, so it does the same work.
* ``channels`` - Django Channels 4 on daphne, ``InMemoryChannelLayer``, one group. It is ~70x
  slower, so its rounds publish ``--channels-events`` (20) events instead of ``--events`` (200),
  which keeps its rounds at ~7 s instead of ~70 s. Longer rounds only make Channels slower
  (its queues grow), so the shorter ones flatter it and the ratio against it is conservative.

Each server runs in its own process (its CPU time and RSS are its own); this process is the load
generator. The design, and why it is trustworthy:

* All three servers are started first and each gets its N subscribers, so rounds can be
  *interleaved*: every round measures all three back to back in a rotating order, and ratios
  are computed per round. On a shared, noisy two-core machine that cancels most of the drift
  that separate runs would suffer.
* A round publishes ``--events`` events (signed ``batch_events`` requests of ``--batch-size``
  events, 10 by default, several in flight) and stops the clock when the N x events-th delivery arrives at the
  generator. Each subscriber must then hold exactly ``--events`` deliveries, or the round fails.
* The servers are pinned to one CPU and the generator (:mod:`loadgen`, a bare epoll loop) to
  the other. Both processes' CPU time is sampled around every round. The servers never wait
  for the generator (their writes go to kernel buffers), so a slow generator would show as
  the server idling at the end of a round while the generator runs at 100 %. A server at ~100 %
  of its CPU with the generator well below 100 % means the server is the bottleneck; the table
  reports both so the reader can check it.
* Neighbours on a shared machine steal CPU time from the server. The table therefore also
  reports deliveries per second of the server's own CPU time, which such theft does not move.
* Memory: each server's VmRSS is read after a warm-up, again after N connections are open and
  idle (handshake done, ``pusher:connection_established`` received) and again after they all
  subscribed; the differences divided by N are the per-connection costs.

Every wait is bounded in time, every loop in count; servers are terminated on exit.

Run from the repository root: ``.venv/bin/python bench/fanout.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The benchmark runs from a checkout, where pushbridge need not be installed.
sys.path[:0] = [str(ROOT), str(BENCH)]

from common import cpu_model, exit_on_sigterm, replace_between_markers, stop_process, wait_until_listening  # noqa: E402
from loadgen import (  # noqa: E402
    Credentials,
    LoadError,
    LoadGenerator,
    Subscriber,
    event_bodies,
    signed_requests,
)

CHANNEL = "bench"
CREDENTIALS = Credentials()
SOKETI = ROOT / "tests" / "soketi" / "node_modules" / ".bin" / "soketi"


# -- server processes -------------------------------------------------------------------------


@dataclass
class Server:
    """One server under test: how to start it, and its process once started."""

    name: str
    argv: list[str]
    port: int
    cwd: Path = ROOT
    config: dict[str, object] | None = None
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, results: Path, cpu: int | None, timeout: float = 30.0) -> None:
        """Start the process (pinned to ``cpu`` if given) and wait until its port accepts connections."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(BENCH), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["PYTHONUNBUFFERED"] = "1"
        self.log_path = results / f"fanout-{self.name}.log"
        argv = list(self.argv)
        if self.config is not None:
            config_path = results / f"fanout-{self.name}.config.json"
            config_path.write_text(json.dumps(self.config))
            argv.append(f"--config={config_path}")
        with self.log_path.open("wb") as log:
            pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
            self.process = subprocess.Popen(
                pin + argv, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until_listening(self.process, self.port, timeout, self.name, self.log_path)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s: only the process this script started."""
        stop_process(self.process)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """CPU time of all the process's threads, in nanosecond resolution (``schedstat``).

        ``/proc/<pid>/stat`` counts in clock ticks (10 ms), too coarse for one-second rounds.
        """
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread may end between listing and reading
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9


def pushbridge_available() -> tuple[bool, str]:
    """True if ``python -m pushbridge.server --help`` works in this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pushbridge.server", "--help"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, "pushbridge.server --help timed out"
    if done.returncode != 0:
        return False, done.stderr.decode(errors="replace").strip().splitlines()[-1:][0] if done.stderr else "failed"
    return True, ""


def soketi_config(port: int, credentials: Credentials) -> dict[str, object]:
    """Soketi on ``port`` with one app whose rate limits are off (ours has none on the HTTP API)."""
    app = {
        "id": credentials.app_id,
        "key": credentials.key,
        "secret": credentials.secret,
        "enabled": True,
        "maxConnections": -1,
        "maxBackendEventsPerSecond": -1,
        "maxClientEventsPerSecond": -1,
        "maxReadRequestsPerSecond": -1,
    }
    return {
        "host": "127.0.0.1",
        "port": port,
        "metrics.enabled": False,
        "appManager.array.apps": [app],
    }


def make_servers(
    names: list[str], base_port: int, credentials: Credentials, baseline: Path | None = None
) -> list[Server]:
    """The servers named in ``names``; ``baseline`` is another checkout's pushbridge, run from its root."""
    python = sys.executable
    available = {
        "ceiling": Server("ceiling", [python, str(BENCH / "ceiling_server.py"), "--port", str(base_port)], base_port),
        "pushbridge": Server(
            "pushbridge",
            [
                python,
                "-m",
                "pushbridge.server",
                "--host",
                "127.0.0.1",
                "--port",
                str(base_port + 1),
                "--app-id",
                credentials.app_id,
                "--key",
                credentials.key,
                "--secret",
                credentials.secret,
            ],
            base_port + 1,
        ),
        "channels": Server(
            "channels",
            [
                python,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(base_port + 2),
                "-v",
                "0",
                # Daphne pings every idle socket every 20 s by default; while another server is
                # measured that is noise in the generator's process, so ping rarely.
                "--ping-interval",
                "600",
                "--ping-timeout",
                "600",
                "channels_peer.asgi:application",
            ],
            base_port + 2,
            cwd=BENCH,
        ),
        "soketi": Server(
            "soketi",
            [str(SOKETI), "start"],
            base_port + 3,
            config=soketi_config(base_port + 3, credentials),
        ),
    }
    if baseline is not None:
        # ``python -m`` puts the working directory first on sys.path: that checkout's package wins.
        pushbridge = available["pushbridge"]
        argv = [str(base_port + 4) if arg == str(base_port + 1) else arg for arg in pushbridge.argv]
        available["baseline"] = Server("baseline", argv, base_port + 4, cwd=baseline.resolve())
    return [available[name] for name in names]


# -- measurements -----------------------------------------------------------------------------


@dataclass
class Memory:
    baseline_kib: int
    idle_kib: int
    subscribed_kib: int
    connections: int
    #: Server CPU seconds spent while the subscribed connections sat idle for ``idle_seconds``.
    idle_cpu_seconds: float = 0.0
    idle_seconds: float = 0.0

    @property
    def per_idle_connection_bytes(self) -> float:
        return (self.idle_kib - self.baseline_kib) * 1024 / self.connections

    @property
    def per_subscribed_connection_bytes(self) -> float:
        return (self.subscribed_kib - self.baseline_kib) * 1024 / self.connections


@dataclass
class Run:
    server: str
    round: int
    deliveries: int
    seconds: float
    server_cpu: float
    generator_cpu: float
    complete: bool

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_rate(self) -> float:
        """Deliveries per second of the server's own CPU time: blind to CPU stolen by neighbours."""
        cpu_seconds = self.server_cpu * self.seconds
        return self.deliveries / cpu_seconds if cpu_seconds > 0 else 0.0


@dataclass
class Results:
    config: dict[str, object]
    machine: dict[str, str]
    memory: dict[str, Memory] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Target:
    """A started server with its subscribers, publish connections and round parameters."""

    server: Server
    events: int
    subscribers: list[Subscriber] = field(default_factory=list)
    in_flight: int = 3
    bodies: list[bytes] = field(default_factory=list)


def warm_up_and_measure_memory(generator: LoadGenerator, target: Target, subscribers: int) -> Memory:
    """Connect ``subscribers`` idle clients and read the server's RSS before and after.

    A warm-up comes first (ten clients subscribe, receive a batch and leave) so that lazily
    imported modules and first-use caches land in the baseline, not on the connections.
    """
    server = target.server
    warm = generator.connect("127.0.0.1", server.port, CREDENTIALS.key, 10)
    generator.subscribe(warm, CHANNEL)
    requests = signed_requests("127.0.0.1", server.port, CREDENTIALS, event_bodies(CHANNEL, 10, 64))
    _, counted, complete = generator.run_round(warm, ("127.0.0.1", server.port, 1), requests, 100, 30, 0.0)
    if not complete:
        raise LoadError(f"{server.name}: warm-up delivered {counted} of 100 events")
    generator.disconnect(warm)
    time.sleep(1.0)
    baseline = server.rss_kib()
    target.subscribers = generator.connect("127.0.0.1", server.port, CREDENTIALS.key, subscribers)
    generator.pump(lambda: False, 1.0)  # idle: answer pings only
    idle = server.rss_kib()
    generator.subscribe(target.subscribers, CHANNEL)
    generator.pump(lambda: False, 1.0)
    subscribed = server.rss_kib()
    return Memory(baseline, idle, subscribed, subscribers)


def measure_idle_cpu(
    generator: LoadGenerator, targets: list[Target], memory: dict[str, Memory], seconds: float
) -> None:
    """Hold every target's subscribed connections idle for ``seconds`` and read each server's CPU.

    All servers wait in the same window (the generator answers their pings), after the rounds,
    so the measurement disturbs no round. What it reports is what holding the connections costs.
    """
    before = {target.server.name: target.server.cpu_seconds() for target in targets}
    generator.pump(lambda: False, seconds)
    for target in targets:
        name = target.server.name
        memory[name].idle_cpu_seconds = target.server.cpu_seconds() - before[name]
        memory[name].idle_seconds = seconds
        print(f"[{name}] {memory[name].idle_cpu_seconds:.2f} CPU-s over {seconds:.0f} s idle", file=sys.stderr)


def one_round(generator: LoadGenerator, target: Target, number: int, timeout: float, batch_interval: float) -> Run:
    """Publish the target's events and time until every subscriber has every one of them."""
    server = target.server
    expected = len(target.subscribers) * target.events
    requests = signed_requests("127.0.0.1", server.port, CREDENTIALS, target.bodies)
    server_cpu = server.cpu_seconds()
    own_cpu = time.process_time()
    seconds, counted, complete = generator.run_round(
        target.subscribers, ("127.0.0.1", server.port, target.in_flight), requests, expected, timeout, batch_interval
    )
    server_cpu = server.cpu_seconds() - server_cpu
    own_cpu = time.process_time() - own_cpu
    # Anything beyond ``events`` per subscriber would be a duplicate; give stragglers a moment.
    generator.pump(lambda: False, 0.05)
    failures = [s.failure for s in target.subscribers if s.failure]
    if failures:
        raise LoadError(f"{server.name}: {len(failures)} subscribers failed, e.g. {failures[0]}")
    counts = [s.delivered for s in target.subscribers]
    if complete and not min(counts) == max(counts) == target.events:
        raise LoadError(
            f"{server.name}: subscribers got between {min(counts)} and {max(counts)} events, expected {target.events}"
        )
    return Run(server.name, number, min(counted, expected), seconds, server_cpu / seconds, own_cpu / seconds, complete)


def benchmark(args: argparse.Namespace, results: Results, servers: list[Server]) -> None:
    generator = LoadGenerator()
    batch_interval = args.batch_ms / 1000
    try:
        targets = []
        for server in servers:
            events = args.channels_events if server.name == "channels" else args.events
            target = Target(
                server,
                events,
                bodies=event_bodies(CHANNEL, events, args.payload, args.batch_size),
                in_flight=args.in_flight,
            )
            print(f"[{server.name}] connecting {args.subscribers} subscribers", file=sys.stderr)
            memory = warm_up_and_measure_memory(generator, target, args.subscribers)
            results.memory[server.name] = memory
            print(
                f"[{server.name}] RSS {memory.baseline_kib} KiB -> idle {memory.idle_kib} KiB -> subscribed "
                f"{memory.subscribed_kib} KiB: {memory.per_idle_connection_bytes / 1000:.1f} KB/idle connection",
                file=sys.stderr,
            )
            targets.append(target)
        # One unmeasured round each: first-use costs (buffers, code paths) stay out of the data.
        for target in targets:
            one_round(generator, target, -1, args.round_timeout, batch_interval)
        for number in range(args.rounds):
            shift = number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                time.sleep(0.3)
                run = one_round(generator, target, number, args.round_timeout, batch_interval)
                results.runs.append(run)
                flag = "" if run.complete else " (TIMED OUT)"
                print(
                    f"round {number} {run.server:>10}: {run.rate:>10,.0f} deliveries/s in {run.seconds:6.2f} s, "
                    f"server CPU {run.server_cpu:4.0%}, generator CPU {run.generator_cpu:4.0%}{flag}",
                    file=sys.stderr,
                )
        if args.idle_seconds:
            measure_idle_cpu(generator, targets, results.memory, args.idle_seconds)
    finally:
        generator.close()


# -- reporting --------------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    model = cpu_model()
    versions = {}
    for package in ("aiohttp", "channels", "daphne", "Django", "Twisted"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
    }


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def per_round_ratios(runs: list[Run], numerator: str, denominator: str, *, cpu: bool = False) -> list[float]:
    """Ratios of two servers' rates within each round: measured minutes apart at most."""
    by_round: dict[int, dict[str, Run]] = {}
    for run in runs:
        by_round.setdefault(run.round, {})[run.server] = run

    def rate(run: Run) -> float:
        return run.cpu_rate if cpu else run.rate

    return [
        rate(pair[numerator]) / rate(pair[denominator])
        for pair in by_round.values()
        if numerator in pair and denominator in pair and rate(pair[denominator]) > 0
    ]


def ratio_cell(runs: list[Run], numerator: str, denominator: str, *, cpu: bool = False) -> str:
    if numerator == denominator:
        return "1"
    ratios = per_round_ratios(runs, numerator, denominator, cpu=cpu)
    if not ratios:
        return "-"
    median, low, high = spread(ratios)
    return f"{median:.2f} ({low:.2f}-{high:.2f})"


def table(results: Results) -> str:
    names = list(dict.fromkeys(run.server for run in results.runs)) or list(results.memory)
    lines = [
        "| server | deliveries/s, median | min-max | x ceiling | x Channels "
        "| deliveries per server CPU-s | x ceiling, per CPU-s | x Soketi, per CPU-s "
        "| server CPU | generator CPU | RSS per idle conn | RSS per subscribed conn | server CPU, idle |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        runs = [run for run in results.runs if run.server == name]
        memory = results.memory.get(name)
        if runs:
            median, low, high = spread([run.rate for run in runs])
            rate = f"{median:,.0f}"
            span = f"{low:,.0f}-{high:,.0f}"
            server_cpu = f"{statistics.median(run.server_cpu for run in runs):.0%}"
            generator_cpu = f"{statistics.median(run.generator_cpu for run in runs):.0%}"
            cpu_rate = f"{statistics.median(run.cpu_rate for run in runs):,.0f}"
            if not all(run.complete for run in runs):
                rate += " (timeouts)"
        else:
            rate = span = server_cpu = generator_cpu = cpu_rate = "-"
        idle = f"{memory.per_idle_connection_bytes / 1000:.1f} KB" if memory else "-"
        subscribed = f"{memory.per_subscribed_connection_bytes / 1000:.1f} KB" if memory else "-"
        resting = f"{memory.idle_cpu_seconds / memory.idle_seconds:.2%}" if memory and memory.idle_seconds else "-"
        lines.append(
            f"| {name} | {rate} | {span} | {ratio_cell(results.runs, name, 'ceiling')} "
            f"| {ratio_cell(results.runs, name, 'channels')} | {cpu_rate} "
            f"| {ratio_cell(results.runs, name, 'ceiling', cpu=True)} "
            f"| {ratio_cell(results.runs, name, 'soketi', cpu=True)} "
            f"| {server_cpu} | {generator_cpu} | {idle} | {subscribed} | {resting} |"
        )
    return "\n".join(lines)


def write_json(results: Results, path: Path) -> None:
    payload = {
        "config": results.config,
        "machine": results.machine,
        "notes": results.notes,
        "memory": {
            name: {
                **asdict(memory),
                "per_idle_connection_bytes": memory.per_idle_connection_bytes,
                "per_subscribed_connection_bytes": memory.per_subscribed_connection_bytes,
            }
            for name, memory in results.memory.items()
        },
        "runs": [{**asdict(run), "rate": run.rate, "cpu_rate": run.cpu_rate} for run in results.runs],
        "summary": {
            name: {
                "median_rate": statistics.median(r.rate for r in results.runs if r.server == name),
                "min_rate": min(r.rate for r in results.runs if r.server == name),
                "max_rate": max(r.rate for r in results.runs if r.server == name),
                "ratio_to_ceiling": per_round_ratios(results.runs, name, "ceiling"),
                "ratio_to_channels": per_round_ratios(results.runs, name, "channels"),
                "cpu_ratio_to_ceiling": per_round_ratios(results.runs, name, "ceiling", cpu=True),
            }
            for name in dict.fromkeys(run.server for run in results.runs)
        },
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


@contextlib.contextmanager
def running(servers: list[Server], results_dir: Path, cpu: int | None) -> Iterator[None]:
    try:
        for server in servers:
            server.start(results_dir, cpu)
        yield
    finally:
        for server in servers:
            server.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000, help="connections per server (default 1000)")
    parser.add_argument("--events", type=int, default=200, help="events per round (default 200)")
    parser.add_argument(
        "--channels-events",
        type=int,
        default=20,
        help="events per round for Django Channels, ~70x slower: equal counts would take minutes (default 20)",
    )
    parser.add_argument(
        "--batch-ms",
        type=float,
        default=1.0,
        help="generator sleep between read sweeps; reads then collect several frames (default 1 ms)",
    )
    parser.add_argument(
        "--in-flight", type=int, default=3, help="publish connections, one request in flight each (default 3)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=10,
        choices=range(1, 11),
        metavar="1..10",
        help="events per batch_events request (default 10, the Pusher limit)",
    )
    parser.add_argument("--rounds", type=int, default=9, help="measured rounds (default 9)")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=0.0,
        help="after the rounds, hold the subscribed connections idle this long and report each server's CPU "
        "share (default 0: skip; 130 covers one 120 s activity-timeout ping of every connection)",
    )
    parser.add_argument("--payload", type=int, default=64, help="approximate bytes of event data (default 64)")
    parser.add_argument("--round-timeout", type=float, default=60.0, help="seconds before a round gives up")
    parser.add_argument(
        "--servers", default="ceiling,pushbridge,soketi,channels", help="comma-separated subset (default: all four)"
    )
    parser.add_argument("--base-port", type=int, default=6010)
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the servers to CPU 0 and the generator to CPU 1 (pinning needs taskset and 2+ CPUs)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 subscribers, 50 events, 2 rounds")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="also measure the pushbridge of another checkout, as server 'baseline' "
        "(e.g. DIR made by: git archive REV | tar -x -C DIR)",
    )
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "fanout.json")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="also rewrite the table between this file's fanout-table markers"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers, args.events, args.channels_events, args.rounds = 200, 50, 20, 2
    if args.events % 10 or args.channels_events % 10 or args.events % args.batch_size:
        parser.error("--events and --channels-events must be multiples of 10 and of --batch-size")
    return args


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 3 * args.subscribers + 256
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    results = Results(config={k: str(v) for k, v in vars(args).items()}, machine=machine_info())
    if "pushbridge" in names:
        ok, reason = pushbridge_available()
        if not ok:
            names.remove("pushbridge")
            results.notes.append(f"pushbridge skipped: python -m pushbridge.server --help failed ({reason})")
            print(results.notes[-1], file=sys.stderr)
    if "soketi" in names and not SOKETI.exists():
        names.remove("soketi")
        results.notes.append(f"soketi skipped: {SOKETI} is missing (scripts/test installs it with npm)")
        print(results.notes[-1], file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.baseline is not None and "baseline" not in names:
        names.append("baseline")
    servers = make_servers(names, args.base_port, CREDENTIALS, args.baseline)
    command = " ".join([".venv/bin/python", "bench/fanout.py", *(argv if argv is not None else sys.argv[1:])])
    results.config["command"] = command
    started = time.monotonic()
    server_cpu = None
    if args.pin and shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2:
        # One CPU each: the scheduler cannot stack the generator onto the server's CPU, and the
        # server's CPU share is not diluted by migrations. Only one server works at a time.
        first, second = sorted(os.sched_getaffinity(0))[:2]
        server_cpu = first
        os.sched_setaffinity(0, {second})
        results.notes.append(f"servers pinned to CPU {first}, load generator to CPU {second}")
    with running(servers, args.output.parent, server_cpu):
        benchmark(args, results, servers)
    results.config["duration_s"] = f"{time.monotonic() - started:.0f}"
    write_json(results, args.output)
    print(f"\n{command}\n")
    print(table(results))
    for note in results.notes:
        print(f"\n{note}")
    if args.markdown is not None:
        stamped = f"Command: `{command}`\n\n{table(results)}"
        if replace_between_markers(args.markdown, "fanout-table", stamped):
            print(f"updated the table in {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
