"""The cluster's long-running processes, started by one command and stopped by another.

``ivr cluster up`` returns while Kamailio and the nodes go on running, so what it started is
written to ``processes.json`` in the cluster folder: name, pid and the process's start time.
``ivr cluster down`` stops exactly those: a pid whose process started at another time has been
reused by something else and is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from ivr.versions.files import write_atomic

STATE_FILE = "processes.json"
STOP_WAIT_S = 60.0
"""How long a process has to stop after SIGTERM before SIGKILL (a node drains its calls)."""


@dataclass(frozen=True)
class Started:
    """One process the cluster started."""

    name: str
    pid: int
    started_at: float
    """psutil's create_time: tells this process from a later one with the same pid."""
    log: str

    def process(self) -> psutil.Process | None:
        """The process if it is still the one started, else None."""
        try:
            process = psutil.Process(self.pid)
            if abs(process.create_time() - self.started_at) > 0.01:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return process


class Processes:
    """What runs in one cluster folder, in the order it was started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.state = folder / STATE_FILE

    def started(self) -> list[Started]:
        try:
            rows = json.loads(self.state.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"{self.state} is unreadable: {exc}") from exc
        return [Started(**row) for row in rows]

    def running(self) -> list[Started]:
        return [s for s in self.started() if s.process() is not None]

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Started:
        """Start ``argv`` in a session of its own (it outlives this command), output to
        ``logs/<name>.log``, and note it."""
        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        with log.open("ab") as out:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env if env is not None else dict(os.environ),
                start_new_session=True,
            )
        started = Started(name, child.pid, psutil.Process(child.pid).create_time(), str(log))
        self._write([*[s for s in self.started() if s.name != name], started])
        return started

    def stop(self, name: str, sig: signal.Signals = signal.SIGTERM) -> bool:
        """Signal ``name`` and wait until it has gone (SIGKILL after STOP_WAIT_S); False if
        it was not running."""
        entry = next((s for s in self.started() if s.name == name), None)
        process = entry.process() if entry is not None else None
        if process is None:
            return False
        process.send_signal(sig)
        try:
            process.wait(STOP_WAIT_S)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(STOP_WAIT_S)
        return True

    def stop_all(self) -> list[str]:
        """Stop everything, the last started first (nodes before the store); names stopped."""
        stopped = [s.name for s in reversed(self.started()) if self.stop(s.name)]
        self.state.unlink(missing_ok=True)
        return stopped

    def _write(self, rows: list[Started]) -> None:
        write_atomic(self.state, json.dumps([asdict(r) for r in rows], indent=1).encode())
