"""A PostgreSQL server of our own: ``initdb`` once into a folder, ``pg_ctl`` start and stop.

The cluster's one store (bank and call records) on one machine, and the tests' throw-away
database. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user
(Debian's packages make it), through ``runuser``.

With a ``password_file`` the server asks for a password (SCRAM): a random one, made with the
cluster and kept only in that owner-only file, in libpq's password-file format, so clients
find it through ``PGPASSFILE`` and no URL, command line or setting ever holds it. Without
one (the tests' databases) anyone on 127.0.0.1 may connect.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

from ivr.secretfile import write_secret

DATABASE = "bank"
"""The database the bot's settings name; its owner (and the superuser) is the same name."""


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server programs, or a user to run them as, are not on this machine."""


class PostgresError(RuntimeError):
    """initdb or pg_ctl failed; the message holds what it said."""


class PostgresServer:
    """One cluster in ``base/data``, listening on 127.0.0.1:``port`` (and a socket in ``base``)."""

    def __init__(self, base: Path, port: int, password_file: Path | None = None) -> None:
        initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
        if not initdb or not pg_ctl:
            raise PostgresUnavailable("PostgreSQL's server programs (initdb, pg_ctl) are missing")
        self._initdb, self._pg_ctl = initdb, pg_ctl
        self.base = base.resolve()
        self.data = self.base / "data"
        self.port = port
        self.password_file = password_file
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                runuser = None
            if runuser is None:
                raise PostgresUnavailable("as root, PostgreSQL needs a 'postgres' user and runuser")
            self._run_as = [runuser, "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://{DATABASE}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def environment(self) -> dict[str, str]:
        """What a client process needs besides ``url``: where libpq finds the password."""
        return {"PGPASSFILE": str(self.password_file)} if self.password_file is not None else {}

    def create(self) -> bool:
        """Make the cluster and its database unless ``data`` holds one; True if it was made."""
        if (self.data / "PG_VERSION").is_file():
            return False
        self.base.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            self._check_reachable()
            shutil.chown(self.base, "postgres")
        initdb = [*self._pg("initdb"), "-U", DATABASE, "-E", "UTF8"]
        if self.password_file is None:
            self._run([*initdb, "--auth=trust"])
        else:
            password = secrets.token_urlsafe(32)
            write_secret(self.password_file, f"127.0.0.1:*:*:{DATABASE}:{password}")
            handed = self.base / ".initdb-password"  # read by initdb as the postgres user
            write_secret(handed, password)
            if self._run_as:
                shutil.chown(handed, "postgres")
            try:
                self._run([*initdb, "--auth=scram-sha-256", f"--pwfile={handed}"])
            finally:
                handed.unlink(missing_ok=True)
        self.start()
        import psycopg2

        admin = psycopg2.connect(
            f"postgresql://{DATABASE}@127.0.0.1:{self.port}/postgres", **self._passfile()
        )
        try:
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            admin.close()
        return True

    def _check_reachable(self) -> None:
        """The ``postgres`` user must pass through every folder above ``base`` to reach its
        data; an owner-only one (``var/`` made 0700, say) would fail later, deep in initdb, as
        "permission denied" on a file it was handed. The permissions are the operator's: say
        which folder, do not change it."""
        user = pwd.getpwnam("postgres")
        groups = {user.pw_gid, *os.getgrouplist(user.pw_name, user.pw_gid)}
        for folder in self.base.parents:
            mode = folder.stat()
            if mode.st_uid == user.pw_uid:
                allowed = mode.st_mode & stat.S_IXUSR
            elif mode.st_gid in groups:
                allowed = mode.st_mode & stat.S_IXGRP
            else:
                allowed = mode.st_mode & stat.S_IXOTH
            if not allowed:
                raise PostgresUnavailable(
                    f"PostgreSQL runs as the 'postgres' user, which cannot pass through {folder}"
                    f" (mode {stat.filemode(mode.st_mode)}) to reach {self.base}: let it"
                    f" (chmod o+x {folder}) or put the cluster elsewhere"
                )

    def _passfile(self) -> dict[str, str]:
        return {"passfile": str(self.password_file)} if self.password_file is not None else {}

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        log = str(self.base / "pg.log")
        self._run([*self._pg("pg_ctl"), "-l", log, "-w", "-o", options, "start"])

    def running(self) -> bool:
        status = subprocess.run([*self._pg("pg_ctl"), "status"], capture_output=True)
        return status.returncode == 0

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()[-1000:]
            raise PostgresError(f"{Path(argv[len(self._run_as)]).name} failed: {said}")

    def _pg(self, program: str) -> list[str]:
        """``program`` (initdb or pg_ctl) on this cluster's data, as the user that runs it."""
        path = self._initdb if program == "initdb" else self._pg_ctl
        return [*self._run_as, path, "-D", str(self.data)]

    def stop(self) -> None:
        subprocess.run(
            [*self._pg("pg_ctl"), "-m", "fast", "-w", "stop"],
            capture_output=True,
        )
