"""Benchmark 4: the cost of model auto-push, a registered model's save versus an unregistered one's.

``bench/autopush_app`` holds two identical models; ``PushedMessage`` is registered with
``@broadcasts`` (one channel per room, creations pushed), ``PlainMessage`` is not. Each save is
its own transaction, ``with transaction.atomic(): Model.objects.create(...)``, the shape of a
view that creates a row, so every pushed save pays the whole price: the ``post_save`` handler
builds and validates the event, ``on_commit`` runs after the commit, and the event is handed
to the backend.

Backends:

* ``memory``: ``"BACKEND": "memory"``; the event is appended to ``pushbridge.outbox`` on the
  saving thread. The cost of pushbridge's own bookkeeping, no network.
* ``soketi, background``: ``"BACKEND": "soketi"`` against the embedded server process with
  ``"DISPATCH": "background"``: the production setup. The save only enqueues; the sender
  thread sends batches. Two times are reported: the save loop alone (what a request sees) and
  the loop plus ``flush()`` (until every event was acknowledged by the server: the sustained
  cost, since the sender thread's work competes with the saving thread for the GIL and, on
  this one pinned CPU, for the core).

Databases: SQLite in a temporary file (the default journal and ``synchronous`` settings: a
commit is an ``fsync``, like a real database's commit is a round trip) and SQLite in memory
(the cheapest save there is, so the ratio is the worst case a real project could see).

The process's CPU time per save (all its threads, the sender's included) is reported too: it is
what a loaded server pays, and what neighbours on a shared machine do not move.

Rounds interleave the two models and the ratio is taken within each round.

Run from the repository root: ``.venv/bin/python bench/autopush.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    APP_ID,
    BENCH,
    KEY,
    SECRET,
    ServerProcess,
    Spread,
    configure_django,
    exit_on_sigterm,
    header,
    pin_self,
    two_cpus,
    write_result,
)

TEXT = "Meet you at the usual place at seven? Bring the slides, the projector there is fine."
DATABASES = ("sqlite file", "sqlite memory")
DB_ALIAS = {"sqlite file": "default", "sqlite memory": "mem"}


def backend_settings(name: str, port: int, queue_size: int) -> dict[str, Any]:
    if name == "memory":
        return {"default": {"BACKEND": "memory"}}
    return {
        "default": {
            "BACKEND": "soketi",
            "HOST": "127.0.0.1",
            "PORT": port,
            "APP_ID": APP_ID,
            "KEY": KEY,
            "SECRET": SECRET,
            "DISPATCH": "background",
            "QUEUE_SIZE": queue_size,
        }
    }


def save_loop(model: Any, db: str, saves: int) -> float:
    """``saves`` creations, one transaction each; wall seconds."""
    from django.db import transaction

    manager = model.objects.db_manager(db)
    start = time.perf_counter()
    for number in range(saves):
        with transaction.atomic(using=db):
            manager.create(room_id=number % 10, author="ann", text=TEXT)
    return time.perf_counter() - start


def measure(model: Any, db: str, saves: int, *, pushed: bool, background: bool) -> dict[str, float]:
    """One block of saves; checks that every pushed save became exactly one event."""
    import pushbridge
    from pushbridge import dispatch

    pushbridge.outbox.clear()
    previous = dispatch.stats().get("default")
    sent_before = previous.sent if previous is not None else 0
    start, cpu = time.perf_counter(), time.process_time()
    loop = save_loop(model, db, saves)
    if background and not pushbridge.flush(60):
        raise RuntimeError("background sender did not drain within 60 s")
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    if pushed:
        if background:
            stats = dispatch.stats()["default"]
            delivered = stats.sent - sent_before
            if stats.dropped or stats.failed:
                raise RuntimeError(f"events dropped or failed: {stats}")
        else:
            delivered = len(pushbridge.outbox)
        if delivered != saves:
            raise RuntimeError(f"{saves} saves produced {delivered} events")
    pushbridge.outbox.clear()
    return {
        "save_us": loop / saves * 1e6,
        "save_and_flush_us": total / saves * 1e6,
        # CPU of every thread of this process (the sender's too): what a loaded server pays.
        "cpu_us": cpu / saves * 1e6,
    }


def run_config(
    backend: str, db_label: str, args: argparse.Namespace, models: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    db = DB_ALIAS[db_label]
    background = backend != "memory"
    names = list(models)
    for name in names:  # warm-up: statements prepared, connection and sender thread up
        measure(models[name], db, 100, pushed=name == "registered", background=background)
    rounds: list[dict[str, Any]] = []
    for number in range(args.rounds):
        order = names if number % 2 == 0 else names[::-1]
        measured: dict[str, Any] = {
            name: measure(models[name], db, args.saves, pushed=name == "registered", background=background)
            for name in order
        }
        for metric in ("save_us", "save_and_flush_us", "cpu_us"):
            measured[f"ratio_{metric}"] = measured["registered"][metric] / measured["unregistered"][metric]
            measured[f"overhead_{metric}"] = measured["registered"][metric] - measured["unregistered"][metric]
        rounds.append(measured)
        print(
            f"{backend} / {db_label} round {number + 1}/{args.rounds}: "
            f"unregistered {measured['unregistered']['save_us']:.0f} us, "
            f"registered {measured['registered']['save_us']:.0f} us "
            f"({measured['registered']['save_and_flush_us']:.0f} with flush), "
            f"ratio {measured['ratio_save_us']:.2f} ({measured['ratio_save_and_flush_us']:.2f} with flush)",
            flush=True,
        )
    summary: dict[str, Any] = {
        name: {metric: Spread.of([r[name][metric] for r in rounds]).as_dict() for metric in rounds[0][name]}
        for name in names
    }
    for key in rounds[0]:
        if key.startswith(("ratio_", "overhead_")):
            summary[key] = Spread.of([r[key] for r in rounds]).as_dict()
    return rounds, summary


def main(argv: list[str] | None = None) -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=1000, help="saves per model per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per configuration (default 5)")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server and client to CPUs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 saves, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.saves, args.rounds = 200, 2
    result: dict[str, Any] = {"benchmark": "autopush", "config": vars(args).copy()}
    header(result, sys.argv[1:] if argv is None else argv, "autopush.py")
    sys.path.insert(0, str(BENCH))

    cpus = two_cpus() if args.pin else None
    with (
        tempfile.TemporaryDirectory(prefix="pushbridge-autopush-") as tmp,
        ServerProcess(cpu=cpus[1] if cpus else None, log_name="autopush_server") as server,
    ):
        pin_self(cpus[0] if cpus else None)
        configure_django(
            backend_settings("memory", server.port, 0),
            INSTALLED_APPS=["pushbridge", "autopush_app"],
            DATABASES={
                "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(tmp) / "bench.sqlite3")},
                "mem": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            },
        )
        from django.core.management import call_command
        from django.test.utils import override_settings

        for alias in DB_ALIAS.values():
            call_command("migrate", run_syncdb=True, database=alias, verbosity=0)
        from autopush_app.models import PlainMessage, PushedMessage

        models = {"unregistered": PlainMessage, "registered": PushedMessage}
        configs: dict[str, Any] = {}
        all_rounds: dict[str, Any] = {}
        for backend in ("memory", "soketi, background"):
            queue_size = 10 * args.saves + 1000
            with override_settings(PUSHBRIDGE=backend_settings(backend, server.port, queue_size)):
                for db_label in DATABASES:
                    key = f"{backend} / {db_label}"
                    all_rounds[key], configs[key] = run_config(backend, db_label, args, models)
                from pushbridge import dispatch

                dispatch.shutdown()

    result["rounds"] = all_rounds
    result["summary"] = configs
    realistic = configs["soketi, background / sqlite file"]
    result["target"] = {
        "ratio": 1.2,
        "judged_on": "soketi, background / sqlite file, save and flush",
        "met": realistic["ratio_save_and_flush_us"]["median"] <= 1.2,
    }
    path = write_result("autopush", result)
    for key, summary in configs.items():
        print(
            f"{key}: ratio {summary['ratio_save_us']['median']:.2f} "
            f"({summary['ratio_save_and_flush_us']['median']:.2f} with flush), "
            f"+{summary['overhead_save_us']['median']:.0f} us per save"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
