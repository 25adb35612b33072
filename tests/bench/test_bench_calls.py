"""A tiny real run of ``ivr bench calls``: a bot subprocess, real SIP calls, the JSON and table.

Three minutes: ``make test-long``; ``make test`` runs the bench's ``--target`` ramp through
Kamailio in ``tests/cluster``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.long
def test_bench_calls_smoke_run_writes_figures_and_prints_the_table(tmp_path: Path) -> None:
    ivr = str(Path(sys.executable).with_name("ivr"))
    argv = [ivr, "bench", "calls", "--turns", "2", "--no-variants", "--levels", "1"]
    argv += ["--level-seconds", "12", "--out", str(tmp_path)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "calls.json").read_text())

    single = results["single_call"]
    assert single["calls"] == 1 and single["turns"] == 2 and single["failed_calls"] == []
    assert set(single["wire_ms"]) == {"p50", "p95", "max", "n"}
    assert set(single["stages_ms"]) == {"endpoint", "asr", "dialogue", "tts_first", "response"}
    assert single["stages_ms"]["endpoint"]["n"] >= 1
    speculation = single["speculation"]
    assert 1 <= speculation["guesses_kept"] <= 2  # a guess made in a pause became the transcript
    assert 0 <= speculation["early_ends"] <= 2 and speculation["taken_back"] >= 0
    assert "early/back" in done.stdout
    level = results["capacity"]["levels"][0]
    assert level["calls"] == 1 and level["turns"] >= 1
    assert level["rss_mb"] > 0 and level["cpu_percent"] > 0
    assert ("underruns" in level["why"]) == (level["underruns"] > 0)
    assert level["passed"] == (level["why"] == "")
    assert results["settings"]["end_of_speech_ms"] > 0
    assert len(results["machine"]["load_avg_start"]) == 3
    assert "single call (default engines)" in done.stdout
    assert "largest sustained" in done.stdout
