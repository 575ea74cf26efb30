"""Benchmark 5: durable dispatch against background dispatch, on file SQLite and on PostgreSQL.

Same embedded server process, same database, interleaved rounds; every event is its own
transaction (``with transaction.atomic(): trigger(...)``), the shape of a view that saves and
announces.

* **Throughput**: ``--events`` transactions as fast as one thread commits them, timed from the
  first commit until the service acknowledged the last event (background: ``flush()``;
  durable: no row left ``pending``). Events per second.
* **Commit-to-browser latency**: ``--rate`` events per second for ``--seconds`` to ``--clients``
  unmodified pusher-js clients (``bench/latency_clients.js``); each event carries the
  ``CLOCK_MONOTONIC`` time taken just before its transaction began. p50 and p99 per mode.
* **Auto-push overhead in durable mode**: a registered model's save against an unregistered
  one's (``bench/autopush_app``), save plus delivery of its event, as ``bench/autopush.py``
  measures it for background mode.

SQLite runs in WAL mode with ``IMMEDIATE`` transactions (the README's advice for durable mode).
The durable relay is the in-process one (a thread woken by each commit), as a web process would
run it. PostgreSQL is a throwaway cluster started with ``tests/services`` (Debian's
``postgresql``); ``--no-postgres`` skips it.

Run from the repository root: ``.venv/bin/python bench/durable.py`` (needs Node.js and
``npm ci --prefix tests/node``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autopush import TEXT, save_loop
from common import (
    BENCH,
    CHANNEL,
    EVENT,
    ROOT,
    ServerProcess,
    Spread,
    configure_django,
    header,
    pusher_alias,
    write_result,
)
from latency import check_clocks, node_clients, paced_round, summarize

MODES = ("background", "durable")


def drained(database: str, timeout: float = 60) -> None:
    """Wait until the relay has sent every row (durable) and the queue is empty (background)."""
    import pushbridge
    from pushbridge.models import StoredEvent

    if not pushbridge.flush(timeout):
        raise RuntimeError("background sender did not drain")
    deadline = time.monotonic() + timeout
    pending = StoredEvent.objects.using(database).filter(status=StoredEvent.PENDING)
    while pending.exists():
        if time.monotonic() > deadline:
            import faulthandler

            faulthandler.dump_traceback()  # where every thread is: the evidence of a stuck relay
            raise RuntimeError(f"the relay did not drain: {pending.count()} rows pending")
        time.sleep(0.01)
    if StoredEvent.objects.using(database).filter(status=StoredEvent.FAILED).exists():
        raise RuntimeError("durable events failed")


def sender(mode: str, database: str) -> Any:
    """``trigger()`` in a transaction of its own, through the alias of ``mode``."""
    from django.db import transaction

    import pushbridge

    def send(data: dict[str, Any]) -> None:
        with transaction.atomic(using=database):
            pushbridge.trigger(CHANNEL, EVENT, data, using=mode)

    return send


def throughput(mode: str, database: str, events: int) -> float:
    send = sender(mode, database)
    start = time.perf_counter()
    for number in range(events):
        send({"n": number, "text": TEXT})
    drained(database)
    return events / (time.perf_counter() - start)


def autopush_cost(model: Any, database: str, saves: int) -> float:
    """Microseconds per save, the delivery of its event included."""
    start = time.perf_counter()
    save_loop(model, database, saves)
    drained(database)
    return (time.perf_counter() - start) / saves * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per throughput round (default 2000)")
    parser.add_argument("--saves", type=int, default=500, help="saves per auto-push round (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--clients", type=int, default=20, help="pusher-js clients for latency (default 20)")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second for latency (default 100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per latency round (default 5)")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false", help="file SQLite only")
    parser.add_argument("--quick", action="store_true", help="smoke run: small rounds, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.saves, args.rounds, args.seconds = 300, 100, 1, 1.0
    result: dict[str, Any] = {"benchmark": "durable", "config": vars(args).copy()}
    header(result, sys.argv[1:] if argv is None else argv, "durable.py")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))

    postgres = None
    if args.postgres:
        from tests.services.postgres import PostgresServer

        postgres = PostgresServer().start()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="pushbridge-durable-") as tmp,
            ServerProcess(log_name="durable_server") as server,
        ):
            databases: dict[str, Any] = {
                "sqlite file": {
                    "ENGINE": "django.db.backends.sqlite3",
                    "NAME": str(Path(tmp) / "bench.sqlite3"),
                    # What the README advises for durable mode on SQLite (Django 5.1+): readers
                    # do not block the writer, and transactions take the write lock up front.
                    "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
                }
            }
            if postgres is not None:
                databases["postgresql"] = postgres.database_settings()
            aliases = {name: f"db{index}" for index, name in enumerate(databases)}
            configure_django(
                {mode: pusher_alias(server.port, dispatch=mode, queue_size=10 * args.events) for mode in MODES}
                | {"default": pusher_alias(server.port, dispatch="durable", queue_size=10 * args.events)},
                INSTALLED_APPS=["pushbridge", "autopush_app"],
                DATABASES={"default": databases["sqlite file"]}
                | {aliases[name]: settings for name, settings in databases.items()},
            )
            from django.core.management import call_command
            from django.test.utils import override_settings

            for alias in aliases.values():
                call_command("migrate", run_syncdb=True, database=alias, verbosity=0)
            from autopush_app.models import PlainMessage, PushedMessage

            result["results"] = {}
            for label, database in aliases.items():
                with override_settings(PUSHBRIDGE_DATABASE=database):
                    result["results"][label] = measure_database(
                        label, database, args, (PlainMessage, PushedMessage), server.port
                    )
    finally:
        if postgres is not None:
            from pushbridge import relay

            relay.stop_in_process()
            postgres.stop()
    path = write_result("durable", result)
    print(json.dumps({label: summary["summary"] for label, summary in result["results"].items()}, indent=1))
    print(f"wrote {path}")
    return 0


def measure_database(
    label: str, database: str, args: argparse.Namespace, models: tuple[Any, Any], port: int
) -> dict[str, Any]:
    import pushbridge

    plain, pushed = models
    for mode in MODES:  # warm-up: connections, the relay thread, the sender thread
        throughput(mode, database, 100)
    rounds: list[dict[str, Any]] = []
    for number in range(args.rounds):
        measured: dict[str, Any] = {}
        for mode in MODES if number % 2 == 0 else MODES[::-1]:
            measured[f"{mode} events/s"] = throughput(mode, database, args.events)
        for name, model in (("unregistered", plain), ("registered", pushed)):
            measured[f"autopush durable {name} us"] = autopush_cost(model, database, args.saves)
        measured["autopush durable ratio"] = (
            measured["autopush durable registered us"] / measured["autopush durable unregistered us"]
        )
        print(f"{label} round {number + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in measured.items()), flush=True)
        rounds.append(measured)
    pushbridge.outbox.clear()

    latency: dict[str, Any] = {}
    events = int(args.rate * args.seconds)
    with node_clients(port, args.clients) as node:
        latency["clock_check"] = check_clocks(node)
        pooled: dict[str, list[float]] = {mode: [] for mode in MODES}
        for number in range(args.rounds):
            for mode in MODES if number % 2 == 0 else MODES[::-1]:
                round_id = f"{label}-{number}-{mode}"
                node.send({"op": "start", "round": round_id})
                node.expect("started", timeout=10)
                paced_round(sender(mode, database), round_id, args.rate, events, 150)
                drained(database)
                node.send({"op": "end", "expect": events * args.clients, "timeout_ms": 15_000})
                samples = node.expect("samples", timeout=60)
                if samples["received"] != events * args.clients:
                    raise RuntimeError(f"{mode}: {samples['received']} of {events * args.clients} delivered")
                pooled[mode].extend(samples["latencies_us"])
        latency["pooled"] = {mode: summarize(values) for mode, values in pooled.items()}
    summary = {key: Spread.of([r[key] for r in rounds]).as_dict() for key in rounds[0]}
    summary["latency"] = latency["pooled"]
    return {"rounds": rounds, "latency": latency, "summary": summary}


if __name__ == "__main__":
    sys.exit(main())
