"""Benchmark 6: 1,000 shim clients catching up after a push-server restart with 100 events missed.

Four processes on one machine:

* the embedded server (``python -m pushbridge.server``), stopped with SIGTERM (it tells every
  client to reconnect, 4200) and restarted on the same port in each round;
* the Django site (``bench/catchup_site.py``: ``pushbridge.urls`` behind sessions and auth
  middleware) under gunicorn, sync workers, serving ``pushbridge:history`` from file SQLite;
* ``bench/catchup_clients.js``: ``--clients`` instances of pushbridge's own shim
  (``pushbridge/js/pushbridge.js``, unmodified, default options) in one Node process, each
  subscribed with history to one channel;
* this process, which commits the events (``trigger()`` in a transaction of its own per event,
  sync mode) into the same database.

Each round stops the push server, then, in the **catch-up** scenario, commits ``--events``
events while it is down (the sends after each commit fail and are announced by
``dispatch_failed``, which the script counts: the events exist only in history), waits until
``--downtime`` seconds have passed since the stop, and restarts the server. The clock starts
when the restarted server's port accepts connections. Per client it reports when it was
resubscribed and when the last missed event reached its bound callback; the round fails unless
every client received exactly the round's events, once each, in order. The **peer**, measured
in the same run with the same downtime in interleaved rounds, is the same clients merely
reconnecting and resubscribing with nothing missed (their history reply is empty): the floor of
any recovery. The difference between the two is what catching up costs.

The shim reconnects with its own back-off (``reconnectMinDelay`` 1 s, doubling, up to 30 %
jitter), so the moment a client is back depends on where its back-off stood when the server
returned; the script therefore reports the reconnect moment and the time after it separately.
Django's side is read from gunicorn's access log (requests to the history endpoint, their
status and time in the worker) and the CPU time of its processes.

Run from the repository root: ``.venv/bin/python bench/catchup.py`` (needs Node.js and
``npm ci --prefix tests/node``; ``--quick`` for a smoke run with 100 clients).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catchup_site import site_settings
from common import (
    BENCH,
    EVENT,
    KEY,
    NODE_DIR,
    RESULTS,
    ROOT,
    SOURCE,
    ForeignLoad,
    ServerProcess,
    Spread,
    exit_on_sigterm,
    free_port,
    header,
    payload,
    percentile,
    process_cpu_seconds,
    replace_between_markers,
    stop_process,
    wait_until_listening,
    write_result,
)
from latency import NodeClients, check_clocks

CHANNEL = "catchup-room"
HISTORY_PATH = "/pushbridge/history/"
CATCH_UP, RECONNECT = "catch-up", "reconnect only"
SCENARIOS = (CATCH_UP, RECONNECT)


# -- the Django site under gunicorn -----------------------------------------------------------


@dataclass
class Gunicorn:
    """gunicorn serving ``catchup_site`` with ``workers`` sync workers; access log with times."""

    database: Path
    push_port: int
    workers: int
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = free_port()
        self.access_log = RESULTS / "catchup_gunicorn_access.log"
        self.error_log = RESULTS / "catchup_gunicorn.log"
        self._read_to = 0

    @property
    def history_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{HISTORY_PATH}"

    def start(self) -> None:
        self.access_log.write_text("")
        argv = [
            sys.executable, "-m", "gunicorn",
            "--workers", str(self.workers),
            "--bind", f"127.0.0.1:{self.port}",
            "--backlog", "2048",
            "--pythonpath", f"{BENCH},{SOURCE}",
            "--access-logfile", str(self.access_log),
            # path, status, microseconds in the worker
            "--access-logformat", "%(U)s %(s)s %(D)s",
            "--error-logfile", str(self.error_log),
            "--log-level", "warning",
            "catchup_site:application()",
        ]  # fmt: skip
        env = dict(os.environ, CATCHUP_SITE_DB=str(self.database), CATCHUP_SITE_PUSH_PORT=str(self.push_port))
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)
        wait_until_listening(self.process, self.port, 60, "gunicorn", self.error_log)

    def stop(self) -> None:
        stop_process(self.process)

    def pids(self) -> list[int]:
        """The master and its workers."""
        assert self.process is not None
        pids = [self.process.pid]
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            pids += [int(pid) for pid in children]
        return pids

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += process_cpu_seconds(pid)
        return total

    def new_requests(self) -> list[tuple[str, int, float]]:
        """(path, status, ms in the worker) of every request logged since the last call."""
        with self.access_log.open() as log:
            log.seek(self._read_to)
            text = log.read()
            self._read_to = log.tell()
        requests = []
        for line in text.splitlines():
            path, status, micros = line.split()
            requests.append((path, int(status), int(micros) / 1e3))
        return requests


@contextlib.contextmanager
def gunicorn(database: Path, push_port: int, workers: int) -> Iterator[Gunicorn]:
    site = Gunicorn(database, push_port, workers)
    try:
        site.start()
        yield site
    finally:
        site.stop()


# -- the events -------------------------------------------------------------------------------


class FailedSends:
    """Counts the events whose send ``dispatch_failed`` announced (the push server was down)."""

    def __init__(self) -> None:
        from pushbridge.signals import dispatch_failed

        self.count = 0
        dispatch_failed.connect(self._failed, weak=False)

    def _failed(self, sender: object, events: list[Any], **kwargs: Any) -> None:
        self.count += len(events)


def commit_events(round_id: str, events: int) -> None:
    """``events`` transactions, each committing one event on the channel (history row included)."""
    from django.db import transaction

    import pushbridge

    for sequence in range(events):
        with transaction.atomic():
            pushbridge.trigger(CHANNEL, EVENT, payload(sequence, 200, r=round_id, s=sequence))


# -- one round --------------------------------------------------------------------------------


def ms_after(stamps: list[str | None], origin: int) -> list[float | None]:
    return [None if stamp is None else (int(stamp) - origin) / 1e6 for stamp in stamps]


def spread_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": percentile(ordered, 0.5),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1],
        "min": ordered[0],
    }


def one_round(
    scenario: str,
    round_id: str,
    args: argparse.Namespace,
    server: ServerProcess,
    site: Gunicorn,
    node: NodeClients,
    failed: FailedSends,
) -> dict[str, Any]:
    expect = args.events if scenario == CATCH_UP else 0
    node.send({"op": "start", "round": round_id, "expect": expect})
    node.expect("started", timeout=10)
    site.new_requests()  # what came before this round is not its load
    foreign = ForeignLoad([os.getpid(), node.process.pid, *site.pids()])

    stop_at = time.monotonic()
    server.stop()
    stopped_s = time.monotonic() - stop_at
    failed_before = failed.count
    commit_s = 0.0
    if expect:
        started = time.monotonic()
        commit_events(round_id, expect)
        commit_s = time.monotonic() - started
    unsent = failed.count - failed_before
    if unsent != expect:
        raise RuntimeError(f"{round_id}: {expect - unsent} of {expect} events were sent while the server was down")
    remaining = stop_at + args.downtime - time.monotonic()
    if remaining < 0:
        raise RuntimeError(f"{round_id}: stopping and committing took longer than --downtime {args.downtime} s")
    time.sleep(remaining)

    django_cpu = site.cpu_seconds()
    server.start(poll=0.001)
    origin = time.monotonic_ns()  # the restarted server accepts connections
    node.send({"op": "end", "timeout_ms": int(args.timeout * 1000), "settle_ms": 1000})
    reply = node.expect("round", timeout=args.timeout + 30)
    django_cpu = site.cpu_seconds() - django_cpu
    others = foreign.cpus()
    if reply["failed"]:
        raise RuntimeError(f"{round_id} ({scenario}): {reply['failed']} clients failed: {reply['failures']}")

    subscribed = ms_after(reply["subscribed"], origin)
    fetched = ms_after(reply["fetched"], origin)
    fetch_started = ms_after(reply["fetch_started"], origin)
    done = ms_after(reply["done"], origin) if expect else fetched
    reconnect = [value for value in subscribed if value is not None]
    caught_up = [value for value in done if value is not None]
    after = [d - s for d, s in zip(done, subscribed, strict=True) if d is not None and s is not None]
    request = [f - s for f, s in zip(fetched, fetch_started, strict=True) if f is not None and s is not None]
    history = [(status, ms) for path, status, ms in site.new_requests() if path == HISTORY_PATH]
    statuses = sorted({status for status, _ in history})
    measured = {
        "scenario": scenario,
        "round": round_id,
        "clients": len(caught_up),
        "history_fetches_by_clients": reply["fetches"],
        "stop_s": stopped_s,
        "commit_s": commit_s,
        "events_unsent_while_down": unsent,
        "reconnect_ms": spread_ms(reconnect),
        "caught_up_ms": spread_ms(caught_up),
        "after_reconnect_ms": spread_ms(after),
        "history_request_ms": spread_ms(request),
        "total_ms": max(caught_up),
        "django": {
            "history_requests": len(history),
            "statuses": statuses,
            "worker_ms": spread_ms([ms for _, ms in history]),
            "worker_ms_sum": sum(ms for _, ms in history),
            "cpu_s": django_cpu,
        },
        "node_cpu_s": reply["cpu_ms"] / 1e3,
        "server_cpu_s_since_restart": server.cpu_seconds(),
        "other_processes_cpus": others,
        "samples": {"reconnect_ms": reconnect, "caught_up_ms": caught_up, "after_reconnect_ms": after},
    }
    if statuses != [200]:
        raise RuntimeError(f"{round_id}: the history endpoint answered {statuses}")
    print(
        f"{round_id} {scenario}: reconnect p50 {measured['reconnect_ms']['p50']:.0f} / max "
        f"{measured['reconnect_ms']['max']:.0f} ms; caught up p50 {measured['caught_up_ms']['p50']:.0f} / p99 "
        f"{measured['caught_up_ms']['p99']:.0f} / max {measured['total_ms']:.0f} ms; after reconnect p50 "
        f"{measured['after_reconnect_ms']['p50']:.0f} / p99 {measured['after_reconnect_ms']['p99']:.0f} ms; "
        f"Django {len(history)} requests, worker p50 {measured['django']['worker_ms']['p50']:.1f} ms, "
        f"CPU {django_cpu:.2f} s; others {others:.2f} CPUs",
        flush=True,
    )
    return measured


# -- the run ----------------------------------------------------------------------------------


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per scenario: pooled per-client percentiles and each round's, as ``median (min-max)``."""
    summary: dict[str, Any] = {}
    for scenario in SCENARIOS:
        mine = [r for r in rounds if r["scenario"] == scenario]
        if not mine:
            continue
        pooled = {
            metric: spread_ms([value for r in mine for value in r["samples"][metric]])
            for metric in ("reconnect_ms", "caught_up_ms", "after_reconnect_ms")
        }
        per_round = {
            f"{metric} {stat}": Spread.of([r[metric][stat] for r in mine]).as_dict()
            for metric in ("reconnect_ms", "caught_up_ms", "after_reconnect_ms", "history_request_ms")
            for stat in ("p50", "p99", "max")
        }
        per_round["total_ms"] = Spread.of([r["total_ms"] for r in mine]).as_dict()
        per_round["django history_requests"] = Spread.of([r["django"]["history_requests"] for r in mine]).as_dict()
        per_round["django worker_ms p50"] = Spread.of([r["django"]["worker_ms"]["p50"] for r in mine]).as_dict()
        per_round["django worker_ms p99"] = Spread.of([r["django"]["worker_ms"]["p99"] for r in mine]).as_dict()
        per_round["django worker_ms_sum"] = Spread.of([r["django"]["worker_ms_sum"] for r in mine]).as_dict()
        per_round["django cpu_s"] = Spread.of([r["django"]["cpu_s"] for r in mine]).as_dict()
        per_round["node cpu_s"] = Spread.of([r["node_cpu_s"] for r in mine]).as_dict()
        per_round["other_processes_cpus"] = Spread.of([r["other_processes_cpus"] for r in mine]).as_dict()
        summary[scenario] = {"rounds": len(mine), "pooled": pooled, "per_round": per_round}
    return summary


def table(result: dict[str, Any]) -> str:
    """The BENCHMARKS.md table of a result (``median (min-max)`` over rounds)."""
    config, summary = result["config"], result["summary"]

    def cell(scenario: str, key: str) -> str:
        spread = summary[scenario]["per_round"][key]
        return f"{spread['median']:,.0f} ({spread['min']:,.0f}-{spread['max']:,.0f})"

    def cell1(scenario: str, key: str) -> str:
        spread = summary[scenario]["per_round"][key]
        return f"{spread['median']:,.1f} ({spread['min']:,.1f}-{spread['max']:,.1f})"

    lines = [
        f"Command: `{result['command']}` ({result['started']}, commit {result['machine']['commit']}). "
        f"{config['clients']:,} shim clients, {config['events']} events missed, server down "
        f"{config['downtime']} s, {summary[CATCH_UP]['rounds']} rounds per scenario, gunicorn "
        f"{result['gunicorn']} with {config['workers']} sync workers; ms from the restarted server "
        "accepting connections, `median (min-max)` over rounds.",
        "",
        "| scenario | resubscribed p50 / p99 / max | caught up p50 | p99 | max (all clients) "
        "| after resubscribing p50 / p99 | history requests | Django worker ms p50 / p99 | Django CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for scenario in SCENARIOS:
        lines.append(
            f"| {scenario} | {cell(scenario, 'reconnect_ms p50')} / {cell(scenario, 'reconnect_ms p99')} / "
            f"{cell(scenario, 'reconnect_ms max')} | {cell(scenario, 'caught_up_ms p50')} | "
            f"{cell(scenario, 'caught_up_ms p99')} | **{cell(scenario, 'total_ms')}** | "
            f"{cell(scenario, 'after_reconnect_ms p50')} / {cell(scenario, 'after_reconnect_ms p99')} | "
            f"{cell(scenario, 'django history_requests')} | {cell1(scenario, 'django worker_ms p50')} / "
            f"{cell1(scenario, 'django worker_ms p99')} | {cell1(scenario, 'django cpu_s')} |"
        )
    ratio = summary[CATCH_UP]["per_round"]["total_ms"]["median"] / summary[RECONNECT]["per_round"]["total_ms"]["median"]
    lines += [
        "",
        f"Catch-up total / reconnect-only total (medians): **{ratio:.2f}x**. "
        'In the reconnect-only rows, "caught up" is the client\'s (empty) history reply.',
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help="shim clients (default 1000)")
    parser.add_argument("--events", type=int, default=100, help="events missed per round (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per scenario (default 3)")
    parser.add_argument("--downtime", type=float, default=3.0, help="seconds from stop to restart (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--reconnect-min-delay", type=int, default=None, help="the shim's reconnectMinDelay in ms (default: its own)"
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds a round may take (default 90)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 clients, 1 round")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.rounds = 100, 1
    for package in ("ws", "pusher-js"):
        if not (NODE_DIR / "node_modules" / package).is_dir():
            raise SystemExit(f"{package} is missing: run npm ci --prefix tests/node")
    result: dict[str, Any] = {"benchmark": "catchup", "config": vars(args).copy()}
    header(result, sys.argv[1:] if argv is None else argv, "catchup.py")
    from importlib import metadata

    result["gunicorn"] = metadata.version("gunicorn")

    with (
        tempfile.TemporaryDirectory(prefix="pushbridge-catchup-") as tmp,
        # Every client comes from 127.0.0.1: lift the per-address limit meant for the internet.
        ServerProcess(log_name="catchup_server", extra_args=["--max-connections-per-address", "0"]) as server,
    ):
        database = Path(tmp) / "site.sqlite3"
        import django
        from django.conf import settings
        from django.core.management import call_command

        settings.configure(**site_settings(str(database), server.port))
        django.setup()
        call_command("migrate", verbosity=0)
        from pushbridge.positions import current_position

        failed = FailedSends()
        import logging

        logging.getLogger("pushbridge.dispatch").setLevel(logging.CRITICAL)  # the failures are counted
        with gunicorn(database, server.port, args.workers) as site:
            node_argv = [
                "node", str(BENCH / "catchup_clients.js"), "127.0.0.1", str(server.port), KEY, site.history_url,
                CHANNEL, EVENT, str(args.clients), str(current_position(CHANNEL, "default")),
            ]  # fmt: skip
            if args.reconnect_min_delay is not None:
                node_argv.append(str(args.reconnect_min_delay))
            node = NodeClients(server.port, args.clients, node_argv)
            try:
                node.expect("ready", timeout=120)
                result["clock_check"] = check_clocks(node)
                one_round(CATCH_UP, "warmup", args, server, site, node, failed)
                rounds = []
                for number in range(args.rounds):
                    order = SCENARIOS if number % 2 == 0 else SCENARIOS[::-1]
                    for scenario in order:
                        round_id = f"r{number}-{SCENARIOS.index(scenario)}"
                        rounds.append(one_round(scenario, round_id, args, server, site, node, failed))
            finally:
                node.close()
    result["summary"] = summarize(rounds)
    for measured in rounds:  # pooled into the summary; per client they would bloat the file
        del measured["samples"]
    result["rounds"] = rounds
    path = write_result("catchup", result)
    text = table(result)
    print(text)
    if not args.no_write and not args.quick and SOURCE == ROOT:
        replace_between_markers(ROOT / "BENCHMARKS.md", "catchup-table", text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
