"""A throwaway Redis server (Debian's ``redis-server``): no persistence, loopback only."""

from __future__ import annotations

import signal
import subprocess
import tempfile
from pathlib import Path

from tests.services.process import free_port, require_program, stop_process, wait_for_port


class RedisServer:
    """One ``redis-server`` on a free port; ``kill()`` and ``start()`` again for outage tests.

    The port stays the same across restarts so clients configured with :attr:`url` reconnect.
    """

    def __init__(self) -> None:
        self.program = require_program("redis-server")
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="pushbridge-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.directory / "redis.log"
        args = [
            self.program,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(log),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process, log)
        return self

    def kill(self) -> None:
        """Stop without a goodbye (SIGKILL), as a crash would."""
        stop_process(self.process, sig=signal.SIGKILL)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
