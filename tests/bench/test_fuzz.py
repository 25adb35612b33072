"""A short run of ``ivr bench fuzz``: mutated inputs of every way in at a live bot during calls.

Three minutes: ``make test-long`` (``make test`` keeps the malformed-input tests of each way in,
``tests/telephony``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.long
def test_bot_survives_a_short_fuzz_of_every_way_in_while_two_calls_talk(tmp_path: Path) -> None:
    ivr = str(Path(sys.executable).with_name("ivr"))
    argv = [ivr, "bench", "fuzz", "--count", "2000", "--seconds", "25", "--turns", "2"]
    argv += ["--out", str(tmp_path)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    results = json.loads((tmp_path / "fuzz.json").read_text())
    failed = [f"{c['name']}: {c['detail']}" for c in results["checks"] if not c["passed"]]

    assert done.returncode == 0 and not failed, "\n".join(failed) + done.stdout[-3000:]
    ways_in = results["load"]["ways_in"]
    assert set(ways_in) == {"sip_udp", "sip_tcp", "rtp", "websocket", "audiosocket"}
    assert all(way["sent"] > 0 for way in ways_in.values())
    assert sum(way["sent"] for way in ways_in.values()) >= 2000
    assert all(call["completed_script"] for call in results["calls"])
    assert results["new_call"]["completed_script"]
    assert results["bot"]["delta"]["open_files"] <= 10
    assert "fuzz passed" in done.stdout
