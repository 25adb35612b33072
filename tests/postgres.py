"""A throw-away PostgreSQL cluster for tests, on a free port of 127.0.0.1, that a test can stop
and start again (a database going away mid-call)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


class PostgresCluster:
    """``initdb`` into a temporary folder, ``pg_ctl start``/``stop``; ``url`` names database
    ``bank`` (created on the first start). Skips the test where PostgreSQL is not installed."""

    def __init__(self) -> None:
        initdb = shutil.which("initdb")
        pg_ctl = shutil.which("pg_ctl")
        if not initdb or not pg_ctl:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self._pg_ctl = pg_ctl
        self._run_as: list[str] = []
        # Not under pytest's private tmp dir: the postgres user must be able to reach it.
        self.base = Path(tempfile.mkdtemp(prefix="bank-pg-"))
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            runuser = shutil.which("runuser")
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                runuser = None
            if runuser is None:
                shutil.rmtree(self.base)
                pytest.skip("running as root without a 'postgres' user and runuser")
            shutil.chown(self.base, "postgres")
            self._run_as = [runuser, "-u", "postgres", "--"]
        self.data = self.base / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"postgresql://bank@127.0.0.1:{self.port}/bank"
        initialise = [*self._run_as, initdb, "-D", str(self.data), "-U", "bank"]
        try:
            subprocess.run(
                [*initialise, "--auth=trust", "-E", "UTF8"], check=True, capture_output=True
            )
            self.start()
            import psycopg2

            admin = psycopg2.connect(f"postgresql://bank@127.0.0.1:{self.port}/postgres")
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute("CREATE DATABASE bank")
            admin.close()
        except BaseException:
            self.remove()
            raise

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        log = str(self.base / "pg.log")
        subprocess.run(
            [
                *self._run_as,
                self._pg_ctl,
                "-D",
                str(self.data),
                "-l",
                log,
                "-w",
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self._run_as, self._pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
