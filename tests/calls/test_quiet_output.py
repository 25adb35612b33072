"""What ``ivr simulate`` prints: its results stand alone, without Rasa's debug lines (with
``--verbose`` they go to the log: ``tests/test_logs.py`` checks that in-process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_DEBUG = ("[state ", "processor.actions", "rule_policy", "[debug")
"""Marks of Rasa's internal debug lines (policy states, action logs, structlog's console)."""


def _simulate(folder: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``ivr simulate`` of the short hang-up script in a fresh process, as a user runs it."""
    command = [
        sys.executable,
        "-c",
        "from ivr.cli import main; main()",
        *flags,
        *("--set", f"bank.database=sqlite:///{folder}/bank.db"),
        *("--set", f"call.records_db=sqlite:///{folder}/calls.db"),
        *("--set", f"tts.cache_dir={folder}/prompts"),
        *("simulate", "data/qa/hang_up.yml", "--no-progress", "--out", str(folder / "run")),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("IVR_CONFIG", None)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=500)


@pytest.mark.slow
@pytest.mark.long  # a minute and a half: a whole `ivr simulate` process
def test_simulate_prints_its_results_without_rasa_debug_lines(tmp_path: Path) -> None:
    run = _simulate(tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("PASS hang_up"), run.stdout[:3000]
    assert "task success 100%" in run.stdout
    for mark in RASA_DEBUG:
        assert mark not in run.stdout + run.stderr, mark
