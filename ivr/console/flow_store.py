"""The flows and their diagrams, kept while the project files stay as they were.

A page view compares the files' modification times and sizes with the last read; only a change
reads the files again, and a diagram is drawn once per flow and change, so ``dot`` does not run
on every view. Thread-safe: handlers call it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ivr.console.flow_diagram import flow_dot, render_svg
from ivr.console.flows import FlowModel, project_files, read_flows

Fingerprint = tuple[tuple[str, int, int], ...]


class FlowStore:
    """The flows of the project at ``root`` (its actions under ``code``, default ``root``),
    read again when its files change. The one reader of the domain in the console: the Flows
    and Prompts pages and the NLU inbox all read it here."""

    def __init__(self, root: Path, code: Path | None = None) -> None:
        self.root = root
        self.code = code
        self._lock = threading.Lock()
        self._fingerprint: Fingerprint = ()
        self._model: FlowModel | None = None
        self._svgs: dict[str, bytes] = {}

    def model(self) -> FlowModel:
        """The flows as the files are now (blocking)."""
        with self._lock:
            return self._current()

    def svg(self, key: str) -> bytes | None:
        """Flow ``key``'s diagram as SVG, None when there is no such flow (blocking)."""
        with self._lock:
            flow = self._current().flow(key)
            if flow is None:
                return None
            if key not in self._svgs:
                self._svgs[key] = render_svg(flow_dot(flow))
            return self._svgs[key]

    def _current(self) -> FlowModel:
        fingerprint = self._read_fingerprint()
        if self._model is None or fingerprint != self._fingerprint:
            self._model = read_flows(self.root, self.code)
            self._fingerprint = fingerprint
            self._svgs.clear()
        return self._model

    def _read_fingerprint(self) -> Fingerprint:
        files = project_files(self.root, self.code)
        stats = ((path, path.stat()) for path in files if path.exists())
        return tuple((str(path), stat.st_mtime_ns, stat.st_size) for path, stat in stats)
