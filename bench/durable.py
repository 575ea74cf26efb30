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
  measures it for background mode. Next to it, in the same rounds, the **floor**: the
  unregistered save plus the one ``INSERT`` pushbridge adds (its prepared statement, run on the
  database driver's own cursor with its parameters made beforehand), and no other pushbridge
  code: what writing the event row costs the database, which no version of durable mode can
  go under while it writes a row per event in the caller's transaction.

SQLite runs in WAL mode with ``IMMEDIATE`` transactions (the README's advice for durable mode).
The durable relay is the in-process one (a thread woken by each commit), as a web process would
run it. PostgreSQL is a throwaway cluster started with ``tests/services`` (Debian's
``postgresql``) with ``fsync=off``, as the tests run it; a second cluster with ``fsync=on``, as
production runs, is measured too (``--no-postgres-fsync`` skips it; ``--no-postgres`` skips both).

A second configuration, "relay process" (``--no-relay-process`` skips it), turns the in-process
relay off and runs ``manage.py pushbridge_relay --interval 0.01`` as a process of its own, for
throughput and auto-push cost. It is woken by nobody (it looks every ``--relay-interval``
seconds), so its latency is that interval's and is not measured.

Run from the repository root: ``.venv/bin/python bench/durable.py`` (needs Node.js and
``npm ci --prefix tests/node``).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
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
    exit_on_sigterm,
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


def floor_cost(model: Any, database: str, saves: int) -> float:
    """Microseconds per unregistered save that also writes one event row, and nothing else.

    The row is written as ``sent`` (so that no relay touches it; the indexes it updates are the
    same) by the statement :mod:`pushbridge.dispatch.inserts` prepares, on the driver's cursor.
    """
    from django.db import connections, transaction

    from pushbridge.dispatch import inserts
    from pushbridge.models import StoredEvent, new_uid

    connection = connections[database]
    connection.ensure_connection()
    sql = inserts._statement(connection, 1)
    if connection.vendor == "sqlite":
        sql = sql.replace("%s", "?")  # the driver's own placeholder style
    template = StoredEvent(alias="default", channels=[CHANNEL], name=EVENT, data=TEXT, status=StoredEvent.SENT)
    columns = inserts._columns()
    values = [adapt(getattr(template, attname), connection) for attname, adapt in columns]
    uid = [attname for attname, _ in columns].index("uid")
    manager = model.objects.db_manager(database)
    cursor = connection.connection.cursor()  # the driver's own: none of Django's wrapping
    try:
        start = time.perf_counter()
        for number in range(saves):
            values[uid] = new_uid()
            with transaction.atomic(using=database):
                manager.create(room_id=number % 10, author="ann", text=TEXT)
                cursor.execute(sql, values)
                cursor.fetchall()
        drained(database)  # nothing to wait for: the same fixed cost as autopush_cost's
        return (time.perf_counter() - start) / saves * 1e6
    finally:
        cursor.close()


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per throughput round (default 2000)")
    parser.add_argument("--saves", type=int, default=500, help="saves per auto-push round (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--clients", type=int, default=20, help="pusher-js clients for latency (default 20)")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second for latency (default 100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per latency round (default 5)")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false", help="file SQLite only")
    parser.add_argument(
        "--no-postgres-fsync", dest="postgres_fsync", action="store_false", help="skip the fsync=on PostgreSQL"
    )
    parser.add_argument(
        "--no-relay-process", dest="relay_process", action="store_false", help="skip the relay-process configuration"
    )
    parser.add_argument(
        "--relay-interval", type=float, default=0.01, help="seconds between looks of the relay process (default 0.01)"
    )
    parser.add_argument("--relay-worker", help=argparse.SUPPRESS)  # internal: run as the relay process
    parser.add_argument("--quick", action="store_true", help="smoke run: small rounds, 1 round")
    args = parser.parse_args(argv)
    if args.relay_worker:
        return relay_worker(json.loads(args.relay_worker))
    if args.quick:
        args.events, args.saves, args.rounds, args.seconds = 300, 100, 1, 1.0
    result: dict[str, Any] = {"benchmark": "durable", "config": vars(args).copy()}
    header(result, sys.argv[1:] if argv is None else argv, "durable.py")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))

    clusters: dict[str, Any] = {}
    if args.postgres:
        from tests.services.postgres import PostgresServer

        clusters["postgresql"] = PostgresServer().start()
        if args.postgres_fsync:
            clusters["postgresql fsync=on"] = PostgresServer(fsync=True).start()
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
            for label, cluster in clusters.items():
                databases[label] = cluster.database_settings()
            aliases = {name: f"db{index}" for index, name in enumerate(databases)}
            django_settings = {
                "aliases": {
                    mode: pusher_alias(server.port, dispatch=mode, queue_size=10 * args.events) for mode in MODES
                }
                | {"default": pusher_alias(server.port, dispatch="durable", queue_size=10 * args.events)},
                "databases": {"default": databases["sqlite file"]}
                | {aliases[name]: settings for name, settings in databases.items()},
            }
            configure_django(
                django_settings["aliases"],
                INSTALLED_APPS=["pushbridge", "autopush_app"],
                DATABASES=django_settings["databases"],
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
                    if args.relay_process:
                        worker = django_settings | {"database": database, "interval": args.relay_interval}
                        result["results"][label]["relay process"] = measure_relay_process(
                            label, database, args, (PlainMessage, PushedMessage), worker
                        )
    finally:
        from pushbridge import relay

        relay.stop_in_process()
        for cluster in clusters.values():
            cluster.stop()
    path = write_result("durable", result)
    summaries = {
        label: {"in-process relay": found["summary"]}
        | ({"relay process": found["relay process"]["summary"]} if "relay process" in found else {})
        for label, found in result["results"].items()
    }
    print(json.dumps(summaries, indent=1))
    print(f"wrote {path}")
    return 0


def measure_rounds(
    label: str, database: str, args: argparse.Namespace, models: tuple[Any, Any]
) -> list[dict[str, Any]]:
    """Interleaved rounds of throughput (both modes) and durable auto-push cost."""
    plain, pushed = models
    for mode in MODES:  # warm-up: connections, the relay, the sender thread
        throughput(mode, database, 100)
    rounds: list[dict[str, Any]] = []
    for number in range(args.rounds):
        measured: dict[str, Any] = {}
        for mode in MODES if number % 2 == 0 else MODES[::-1]:
            measured[f"{mode} events/s"] = throughput(mode, database, args.events)
        measured["autopush durable unregistered us"] = autopush_cost(plain, database, args.saves)
        # Before the registered saves: their rows keep the relay busy for a while after them.
        measured["autopush durable floor us"] = floor_cost(plain, database, args.saves)
        measured["autopush durable registered us"] = autopush_cost(pushed, database, args.saves)
        unregistered = measured["autopush durable unregistered us"]
        measured["autopush durable ratio"] = measured["autopush durable registered us"] / unregistered
        measured["autopush durable floor ratio"] = measured["autopush durable floor us"] / unregistered
        print(f"{label} round {number + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in measured.items()), flush=True)
        rounds.append(measured)
    return rounds


def measure_database(
    label: str, database: str, args: argparse.Namespace, models: tuple[Any, Any], port: int
) -> dict[str, Any]:
    import pushbridge

    rounds = measure_rounds(label, database, args, models)
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


def measure_relay_process(
    label: str, database: str, args: argparse.Namespace, models: tuple[Any, Any], worker: dict[str, Any]
) -> dict[str, Any]:
    """Throughput and auto-push cost with ``manage.py pushbridge_relay`` as the only relay."""
    from django.test.utils import override_settings

    from pushbridge import relay

    relay.stop_in_process()  # its thread would still look every few seconds
    process = subprocess.Popen([sys.executable, __file__, "--relay-worker", json.dumps(worker)])
    try:
        with override_settings(PUSHBRIDGE_RELAY_IN_PROCESS=False):
            rounds = measure_rounds(f"{label} relay process", database, args, models)
    finally:
        process.send_signal(signal.SIGTERM)  # the command ends after its current turn
        process.wait(30)
    summary = {key: Spread.of([r[key] for r in rounds]).as_dict() for key in rounds[0]}
    return {"rounds": rounds, "summary": summary, "interval": worker["interval"]}


def relay_worker(worker: dict[str, Any]) -> int:
    """The relay process: Django configured as the benchmark's, then ``manage.py pushbridge_relay``."""
    configure_django(
        worker["aliases"],
        INSTALLED_APPS=["pushbridge", "autopush_app"],
        DATABASES=worker["databases"],
        PUSHBRIDGE_RELAY_IN_PROCESS=False,
    )
    from django.core.management import call_command

    call_command("pushbridge_relay", database=worker["database"], interval=worker["interval"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
