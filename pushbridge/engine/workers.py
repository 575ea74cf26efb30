"""``--workers N``: N server processes on one port, each a node of the cluster on Redis.

One Python process uses one core; a machine with several serves more by running several.
Each worker is the same command line with ``--workers 1 --reuse-port``: it listens with
``SO_REUSEPORT``, so the kernel spreads new connections over the workers, and it joins the
cluster on Redis like a node on another machine would. This process only supervises: it
passes SIGINT/SIGTERM on (each worker tells its clients to reconnect, then leaves the cluster)
and starts a new worker when one dies (the others forget the dead one within the node timeout).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from types import FrameType

#: Seconds between a worker's death and its replacement (a worker that cannot start does not spin).
RESPAWN_DELAY = 1.0


def worker_command(command: Sequence[str]) -> list[str]:
    """The command line of one worker: the same command and flags, one process, a shared port.

    ``command`` is the whole command line that asked for workers (``python -m
    pushbridge.server ...`` or ``python manage.py pushbridge_server ...``); the flags added last
    win over the ``--workers`` it holds.
    """
    return [*command, "--workers", "1", "--reuse-port"]


def run_workers(command: Sequence[str], count: int) -> int:
    """Run ``count`` workers of ``command`` until SIGINT or SIGTERM; return the exit status."""
    command = worker_command(command)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    workers = [subprocess.Popen(command) for _ in range(count)]
    print(f"Started {count} workers (pids {', '.join(str(w.pid) for w in workers)}).", flush=True)
    try:
        while not stopping:
            for index, worker in enumerate(workers):
                status = worker.poll()
                if status is not None and not stopping:
                    print(f"Worker {worker.pid} exited with status {status}; starting another.", flush=True)
                    time.sleep(RESPAWN_DELAY)
                    workers[index] = subprocess.Popen(command)
            time.sleep(0.2)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
