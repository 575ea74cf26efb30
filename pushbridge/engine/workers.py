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


def worker_command(program: Sequence[str], argv: Sequence[str]) -> list[str]:
    """The command line of one worker: ``program`` with the same flags, one process, a shared port.

    ``program`` is ``[sys.executable, "-m", "pushbridge.server"]`` or the management command's.
    """
    return [*program, *argv, "--workers", "1", "--reuse-port"]


def run_workers(program: Sequence[str], argv: Sequence[str], count: int) -> int:
    """Run ``count`` workers of ``program`` with flags ``argv`` until SIGINT or SIGTERM; return the exit status."""
    command = worker_command(program, argv)
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
