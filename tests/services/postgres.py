"""A throwaway PostgreSQL cluster (Debian's ``postgresql``) made with initdb and run with pg_ctl.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` system
user (which Debian's package creates), or to ``nobody``. Authentication is ``trust`` on
loopback only: the cluster lives for one test session and is deleted after it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.services.process import free_port, require_program

DATABASE = "pushbridge"
USER = "pushbridge"


def _binary(name: str) -> str:
    """``name`` from the newest /usr/lib/postgresql/N/bin (Debian keeps them off PATH), else PATH."""
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda path: int(path.split("/")[4]))
    return versions[-1] if versions else require_program(name)


class PostgresServer:
    """One PostgreSQL cluster on a free port, with a superuser ``pushbridge`` and database ``pushbridge``."""

    def __init__(self, *, fsync: bool = False) -> None:
        #: Off by default: tests need no durability, and commits then cost no disk flush.
        self.fsync = fsync
        self.initdb = _binary("initdb")
        self.pg_ctl = _binary("pg_ctl")
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="pushbridge-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.run_as: str | None = None
        if os.geteuid() == 0:
            self.run_as = "postgres" if _user_exists("postgres") else "nobody"
            owner = pwd.getpwnam(self.run_as)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None

    def _command(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    def start(self) -> PostgresServer:
        subprocess.run(
            self._command(self.initdb, "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync={'on' if self.fsync else 'off'}"
        )
        subprocess.run(
            self._command(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        subprocess.run(
            self._command(_binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self

    def database_settings(self, name: str = DATABASE) -> dict[str, Any]:
        """A Django ``DATABASES`` entry for this cluster."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": USER,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                self._command(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        shutil.rmtree(self.directory, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
