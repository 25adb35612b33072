"""The `ivr` commands of the dialogue layer, run as a designer or the Makefile runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dialogue.conftest import ALICE, ROOT

IVR = str(Path(sys.executable).with_name("ivr"))


def ivr(
    *args: str, stdin: str | None = None, timeout: float = 60, db: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    settings = ["--set", f"bank.database=sqlite:///{db}"] if db else []
    return subprocess.run(
        [IVR, *settings, *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_train_knows_the_model_is_up_to_date(trained_model: Path) -> None:
    result = ivr("train", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    again = ivr("train")
    assert again.returncode == 0 and "is up to date" in again.stdout


def test_bank_init_creates_and_seeds_the_database(tmp_path: Path) -> None:
    db = tmp_path / "bank.db"
    result = ivr("bank", "init", db=db)
    assert result.returncode == 0, result.stderr
    assert "4 customers" in result.stdout and db.is_file()


@pytest.mark.slow
@pytest.mark.long  # a minute and a half: a whole `ivr chat` process
def test_chat_json_runs_a_whole_call_from_piped_stdin(trained_model: Path, tmp_path: Path) -> None:
    script = "\n".join(
        [
            "what's my balance",
            '/dtmf{{"digits": "{}"}}'.format(ALICE["account"]),
            '/dtmf{{"digits": "{}"}}'.format(ALICE["pin"]),
            "no thanks",
            '/dtmf{"digits": "5"}',
        ]
    )
    result = ivr("chat", "--json", stdin=script + "\n", timeout=400, db=tmp_path / "bank.db")
    assert result.returncode == 0, result.stderr[-3000:]
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["intent"] for t in turns] == [
        "greet",
        "check_balance",
        "dtmf",
        "dtmf",
        "deny",
        "dtmf",
    ]
    assert all(isinstance(t["confidence"], float) for t in turns)
    assert turns[3]["user"] == "[keypad ****]"  # the PIN is never echoed
    assert "2,450 dollars and 75 cents" in " ".join(m["text"] or "" for m in turns[3]["messages"])
    assert turns[-1]["messages"][-1]["payload"]["hangup"]["reason"] == "caller_done"
    assert ALICE["pin"] not in result.stdout and ALICE["pin"] not in result.stderr
