"""Recognition in worker processes: the same transcripts as in the bot's own process, from
processes of their own, and a worker that dies costs at most the utterance that killed it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from ivr.logs import _ConsoleFormatter
from logfields import FIELDS_ATTRIBUTE, fields
from speech.asr import create_asr_engine
from speech.asr.base import AsrError, Transcript
from speech.asr.whisper import WhisperEngine
from speech.asr.workers import RecogniserProcesses
from speech.audio import Samples
from speech.digits import DigitExpectation
from speech.settings import AsrConfig
from tests.speech.corpus import Sample

ROOT = Path(__file__).resolve().parents[2]
DEADLY = 1234
"""A sample value that makes :class:`PidEngine` kill its own process."""
LOGGED = 777
"""A sample value that makes :class:`PidEngine` log a warning, with a PIN in it, as it answers."""
SPEECH = np.arange(800, dtype=np.int16)
"""An utterance :class:`PidEngine` answers (with its worker's process id)."""


class PidEngine:
    """A recogniser without a model (so these tests start fast): it answers with its process id,
    and dies on an utterance made only of ``DEADLY``."""

    def load(self) -> None:
        pass

    def recognise(
        self,
        samples: Samples,
        rate: int,
        hints: tuple[str, ...] = (),
        digits: DigitExpectation | None = None,
    ) -> Transcript:
        if len(samples) and np.all(samples == DEADLY):
            os._exit(3)
        if len(samples) and np.all(samples == LOGGED):
            logging.getLogger("speech.asr.pid_engine").warning(
                "pid_engine.heard text=%s", "my pin is 4 8 1 5", extra=fields(worker=os.getpid())
            )
        return Transcript(text=str(os.getpid()), confidence=1.0, is_final=True)


@pytest.fixture
def pid_workers() -> Iterator[RecogniserProcesses]:
    """Two started workers without a model, shut down after the test."""
    workers = RecogniserProcesses(PidEngine, 2)
    try:
        workers.start()
        yield workers
    finally:
        workers.shutdown()


def _workers() -> list[psutil.Process]:
    """This process's recognition workers (the resource tracker holds no model and is left out)."""
    return [
        child
        for child in psutil.Process().children()
        if "resource_tracker" not in " ".join(child.cmdline())
    ]


def test_the_workers_transcribe_as_the_bots_process_does(
    whisper_engine: WhisperEngine, piper_samples: list[Sample]
) -> None:
    serving = create_asr_engine(AsrConfig(engine="whisper"), serving=True)
    in_process = create_asr_engine(
        AsrConfig(engine="whisper", worker_processes=False), serving=True
    )
    samples = piper_samples[:6]
    try:
        before = {child.pid for child in _workers()}
        serving.load()
        started = {child.pid for child in _workers()} - before
        assert len(started) == serving.max_concurrent  # each loaded its own model
        in_process.load()
        assert {child.pid for child in _workers()} - before == started  # no more workers
        heard = [serving.transcribe(sample.audio).text for sample in samples]
    finally:
        serving.shutdown()
        in_process.shutdown()
    assert heard == [whisper_engine.transcribe(sample.audio).text for sample in samples]


def test_a_lost_worker_is_replaced_and_the_utterance_heard(
    pid_workers: RecogniserProcesses,
) -> None:
    first = int(pid_workers.recognise(SPEECH, 8000, (), None).text)
    os.kill(first, signal.SIGKILL)
    time.sleep(0.2)
    again = int(pid_workers.recognise(SPEECH, 8000, (), None).text)
    assert again != first and psutil.pid_exists(again)


def test_workers_outlast_the_signals_that_stop_the_bot_until_it_stops_them(
    pid_workers: RecogniserProcesses,
) -> None:
    """Ctrl-C and a service manager's SIGTERM reach the whole process group: the workers keep
    recognising while the bot drains its calls, and stop when the bot shuts them down."""
    pid = int(pid_workers.recognise(SPEECH, 8000, (), None).text)
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.3)
    assert psutil.pid_exists(pid)
    assert {int(pid_workers.recognise(SPEECH, 8000, (), None).text) for _ in range(4)} <= {
        child.pid for child in _workers()
    }
    pid_workers.shutdown()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_an_utterance_that_kills_its_worker_fails_alone(
    pid_workers: RecogniserProcesses,
) -> None:
    deadly = np.full(800, DEADLY, dtype=np.int16)
    with pytest.raises(AsrError, match="worker died"):
        pid_workers.recognise(deadly, 8000, (), None)
    assert int(pid_workers.recognise(SPEECH, 8000, (), None).text) != os.getpid()


def _engine_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "speech.asr.pid_engine"]


def test_a_workers_log_records_are_handled_by_the_bots_loggers(
    pid_workers: RecogniserProcesses, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker logs through the bot's own handlers (formatted and masked as the bot's lines,
    in its one log), at the bot's level."""
    with caplog.at_level(logging.INFO):
        worker = int(pid_workers.recognise(np.full(800, LOGGED, np.int16), 8000, (), None).text)
        deadline = time.monotonic() + 5
        while not _engine_records(caplog) and time.monotonic() < deadline:
            time.sleep(0.05)  # the record crosses a queue and the bot's listener thread
    (record,) = _engine_records(caplog)
    assert record.levelno == logging.WARNING
    assert getattr(record, FIELDS_ATTRIBUTE) == {"worker": worker} and record.process == worker
    assert record.getMessage() == "pid_engine.heard text=my pin is 4 8 1 5"
    line = _ConsoleFormatter().format(record)  # as the bot's log prints it
    assert "my pin is [PIN]" in line and f"worker={worker}" in line and "4 8 1 5" not in line


BOT = """
import sys, time
from speech.asr.workers import RecogniserProcesses
from tests.speech.test_asr_workers import PidEngine
if __name__ == "__main__":
    workers = RecogniserProcesses(PidEngine, 2)
    workers.start()
    print("ready", flush=True)
    time.sleep(120)
"""


def reading_the_tasks() -> int:
    """The idle worker that is reading the pool's task queue, and so holds its lock (the other
    waits for the lock): found by where the kernel has its main thread waiting."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for worker in _workers():
            if "pipe_read" in Path(f"/proc/{worker.pid}/wchan").read_text():
                return worker.pid
        time.sleep(0.05)
    raise AssertionError("no worker is reading the task queue")


BOT_LOSING_A_WORKER = """
import os, signal, time
from speech.asr.workers import RecogniserProcesses
from tests.speech.test_asr_workers import PidEngine, SPEECH, reading_the_tasks
if __name__ == "__main__":
    workers = RecogniserProcesses(PidEngine, 2)
    workers.start()
    os.kill(reading_the_tasks(), signal.SIGKILL)
    time.sleep(0.2)
    print(workers.recognise(SPEECH, 8000, (), None).text, flush=True)
    workers.shutdown()
"""


def _bot(tmp_path: Path, script: str) -> subprocess.Popen[str]:
    path = tmp_path / "bot.py"
    path.write_text(script)
    return subprocess.Popen(
        [sys.executable, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_a_bot_that_lost_a_worker_still_exits_and_leaves_no_worker_behind(
    tmp_path: Path,
) -> None:
    """The lost worker held the task queue's lock: the pool is replaced, and its other worker,
    which ignores SIGTERM and waits for that lock for ever, is stopped with it. Left, it would
    keep a model loaded, and the bot's exit would wait for it."""
    bot = _bot(tmp_path, BOT_LOSING_A_WORKER)
    try:
        assert bot.stdout is not None and bot.stdout.readline().strip().isdigit()
        workers = psutil.Process(bot.pid).children(recursive=True)
        assert bot.wait(30) == 0
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == [], alive
    finally:
        bot.kill()


def test_workers_stop_when_the_bot_is_killed_outright(tmp_path: Path) -> None:
    """A bot killed with SIGKILL cannot stop its workers: they notice and stop themselves."""
    bot = _bot(tmp_path, BOT)
    try:
        assert bot.stdout is not None and bot.stdout.readline().strip() == "ready"
        workers = psutil.Process(bot.pid).children()
        assert len(workers) >= 2
        bot.kill()
        bot.wait(10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == [], alive
    finally:
        bot.kill()
