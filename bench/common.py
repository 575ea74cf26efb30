"""Shared helpers of the trigger-path benchmarks (trigger throughput, background dispatch,
latency, model auto-push).

Why these exist as one module: every benchmark must measure pushbridge and its peer against the
*same* server process, report the *same* statistics and describe the *same* machine, so that
the tables in ``BENCHMARKS.md`` are comparable and reproducible. Keeping the server start-up,
the statistics and the machine description here means a change to one of them changes all
benchmarks at once.

Nothing here measures anything by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
NODE_DIR = ROOT / "tests" / "node"

#: Where ``pushbridge`` is imported from: this checkout, or, for an A/B run of a proposed
#: change, the directory named by ``PUSHBRIDGE_BENCH_SOURCE`` (it must hold a ``pushbridge/``).
SOURCE = Path(os.environ.get("PUSHBRIDGE_BENCH_SOURCE", ROOT)).resolve()

# The benchmarks run from a checkout, where pushbridge need not be installed.
if str(SOURCE) not in sys.path:
    sys.path.insert(0, str(SOURCE))

#: The official SDK insists on a numeric app id; everything else is arbitrary.
APP_ID = "123456"
KEY = "bench-key"
SECRET = "bench-secret"
CHANNEL = "bench"
EVENT = "tick"


# -- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Median and spread of a handful of rounds: what every table cell reports."""

    median: float
    low: float
    high: float
    q1: float
    q3: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no values")
        ordered = sorted(values)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3, len(ordered))

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "q1": self.q1, "q3": self.q3, "n": self.n}

    def cell(self, fmt: str = "{:,.0f}") -> str:
        """``median (min-max)``, the form every table uses."""
        return f"{fmt.format(self.median)} ({fmt.format(self.low)}-{fmt.format(self.high)})"


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (no interpolation: a real sample)."""
    if not ordered:
        raise ValueError("no values")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


# -- the embedded server as its own process ---------------------------------------------------


def free_port() -> int:
    """A port the kernel just handed out, so that concurrent runs do not collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def two_cpus() -> tuple[int, int] | None:
    """The first two CPUs this process may use, or None on a one-CPU machine."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


def pin_self(cpu: int | None) -> None:
    """Keep this process (the client being measured) on ``cpu``: no migrations mid-round."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def unpin_self() -> None:
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


class ServerProcess:
    """``python -m pushbridge.server`` in its own process, optionally pinned to one CPU.

    A separate process, because a server in a thread of the measured process would share its
    GIL and the benchmark would measure the contention between the two rather than the client.
    """

    def __init__(self, *, cpu: int | None = None, log_name: str = "server", extra_args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.cpu = cpu
        #: More ``pushbridge.server`` options (e.g. ``--max-connections-per-address 0``).
        self.extra_args = list(extra_args)
        self.log_path = RESULTS / f"{log_name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, poll: float = 0.05) -> None:
        """Start (or restart, on the same port) and return once the port accepts connections,
        found by trying every ``poll`` seconds."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "pushbridge.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--app-id",
            APP_ID,
            "--key",
            KEY,
            "--secret",
            SECRET,
            "--log-level",
            "WARNING",
            *self.extra_args,
        ]
        if self.cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(self.cpu), *argv]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SOURCE), os.environ.get("PYTHONPATH")])))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_until_listening(self.process, self.port, timeout, "server", self.log_path, poll)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; only the process this object started."""
        stop_process(self.process)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time of all the server's threads (``schedstat``: nanoseconds, not 10 ms ticks)."""
        assert self.process is not None
        return process_cpu_seconds(self.process.pid)


def process_cpu_seconds(pid: int) -> float:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread may end between listing and reading
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


class ForeignLoad:
    """CPU used by *other* processes during a round, in CPUs (0.5 = half a core).

    On a shared machine a neighbour's burst is indistinguishable from a slow round unless it
    is measured: this reads the machine's busy time (``/proc/stat``) and subtracts the CPU time
    of the processes the benchmark itself runs (``pids``), so a table can show which rounds
    were disturbed.
    """

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self._start = self._sample()

    @staticmethod
    def _busy_seconds() -> float:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in fields]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        busy = sum(values[:8]) - idle  # user..steal; guest time is already inside user
        return busy / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> tuple[float, float, float]:
        ours = 0.0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                ours += process_cpu_seconds(pid)
        return time.monotonic(), self._busy_seconds(), ours

    def cpus(self) -> float:
        """Average number of CPUs other processes kept busy since construction."""
        now, busy, ours = self._sample()
        start, busy0, ours0 = self._start
        elapsed = max(1e-9, now - start)
        return max(0.0, ((busy - busy0) - (ours - ours0)) / elapsed)


# -- Django -----------------------------------------------------------------------------------


def pusher_alias(port: int, *, dispatch: str = "sync", queue_size: int = 10_000) -> dict[str, Any]:
    """An alias of the ``"pusher"`` backend aimed at the embedded server on ``port``."""
    return {
        "BACKEND": "pusher",
        "HOST": "127.0.0.1",
        "PORT": port,
        "USE_TLS": False,
        "APP_ID": APP_ID,
        "KEY": KEY,
        "SECRET": SECRET,
        "DISPATCH": dispatch,
        "QUEUE_SIZE": queue_size,
    }


def configure_django(aliases: Mapping[str, Mapping[str, Any]], **extra: Any) -> None:
    """Configure Django for a script (no project): only what pushbridge needs, plus ``extra``."""
    import django
    from django.conf import settings

    options: dict[str, Any] = {
        "PUSHBRIDGE": {name: dict(value) for name, value in aliases.items()},
        "INSTALLED_APPS": ["pushbridge"],
        "DATABASES": {},
        "USE_TZ": True,
        "LOGGING_CONFIG": None,
    }
    options.update(extra)
    settings.configure(**options)
    django.setup()


def sdk_client(port: int) -> Any:
    """The official ``pusher`` SDK aimed at the same server, with its default (requests) backend."""
    import pusher

    return pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, host="127.0.0.1", port=port, ssl=False)


def payload(sequence: int = 0, size: int = 200, **fields: Any) -> dict[str, Any]:
    """An event payload whose compact JSON is ``size`` bytes: a chat-message-like dict."""
    data: dict[str, Any] = {"id": sequence, "user": "ann", "room": 42, **fields, "text": ""}
    base = len(json.dumps(data, separators=(",", ":")))
    data["text"] = "x" * max(0, size - base)
    return data


# -- machine and versions ---------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine_info() -> dict[str, str]:
    """What a reader needs to compare our numbers with theirs."""
    model = cpu_model()
    pusher_js = "not installed"
    with contextlib.suppress(OSError, ValueError):
        pusher_js = json.loads((NODE_DIR / "node_modules" / "pusher-js" / "package.json").read_text())["version"]
    memory = "unknown"
    with contextlib.suppress(OSError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    import pushbridge

    return {
        "cpu": model,
        "cpus": str(os.cpu_count()),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pushbridge": pushbridge.__version__ + ("" if SOURCE == ROOT else f" from {SOURCE}"),
        "commit": _command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "Django": _version("Django"),
        "pusher (SDK)": _version("pusher"),
        "requests": _version("requests"),
        "urllib3": _version("urllib3"),
        "aiohttp": _version("aiohttp"),
        "node": _command_output(["node", "--version"]) if shutil.which("node") else "not installed",
        "pusher-js": pusher_js,
    }


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (atomically: a crashed run leaves the last good one).

    An A/B run against ``PUSHBRIDGE_BENCH_SOURCE`` writes ``<name>.source.json`` instead, so it
    never replaces the checkout's own results (which the tables and plots are drawn from).
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / (f"{name}.json" if SOURCE == ROOT else f"{name}.source.json")
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    temporary.replace(path)
    return path


def header(result: dict[str, Any], argv: Sequence[str], script: str) -> None:
    """Record the command, the machine and the start time in ``result``."""
    result["command"] = " ".join([".venv/bin/python", f"bench/{script}", *argv])
    result["machine"] = machine_info()
    result["started"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic GC inside a timed loop: a collection is noise that lands on whichever side runs."""
    import gc

    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def replace_between_markers(document: Path, name: str, text: str) -> bool:
    """Put ``text`` between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in ``document``.

    The prose around the markers is left alone, so re-running a benchmark refreshes its numbers
    without touching the reading of them. False when the file or its markers are missing.
    """
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if not document.exists():
        return False
    content = document.read_text()
    if begin not in content or end not in content:
        return False
    before, rest = content.split(begin, 1)
    _, after = rest.split(end, 1)
    document.write_text(f"{before}{begin}\n{text}\n{end}{after}")
    return True


def wait_until_listening(
    process: subprocess.Popen[bytes], port: int, timeout: float, name: str, log_path: Path, poll: float = 0.05
) -> None:
    """Return once ``port`` accepts connections; raise if ``process`` exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(poll)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout} s; see {log_path}")


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit``, so a stopped benchmark still stops the servers it started.

    Without it, ``kill`` (or ``timeout``) ends the script at once and its ``finally`` blocks,
    which stop the servers, the clients and PostgreSQL, never run.
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after 5 s: only a process a benchmark started itself."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
