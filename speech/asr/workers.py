"""Whisper recognitions in worker processes of their own.

In the bot every call's audio goes through one event loop: the echo canceller, the endpointer
and RTP pacing are many small Python steps, and a recognition on a thread of the same process
waits for the interpreter lock between its own numpy and CTranslate2 steps. Under load that
wait, not the CPU, was the recognitions' queue (README, Performance). A worker process holds its
own copy of the model (about 295 MB resident) and recognises beside the loop, on another core.

Each worker builds the engine with the parent's factory (an engine without workers) and loads
it once; an utterance goes in as samples and comes back as a :class:`Transcript`. A worker that dies
(killed, out of memory) is replaced and the utterance tried once more, so one lost worker costs
no call; an utterance that kills a second worker fails as an :class:`AsrError` for its call
only.

A worker's log records go to the bot over a queue and are handled there by the bot's own
loggers (the Python logging cookbook's pattern for several processes), so they are formatted,
filtered and masked as the bot's are, in its one log.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

import numpy as np

from logfields import fields
from speech.asr.base import AsrError, Transcript
from speech.audio import Samples
from speech.blas import limit_blas_threads
from speech.digits import DigitExpectation

log = logging.getLogger(__name__)

READY_PAUSE_S = 0.3
"""How long each start-up task holds its worker once warm, so that every worker of the pool is
started (and has run the model once) before the first caller, not only the first one free."""
WARM_UP_RATE = 8000
"""The warm-up tone's rate: the telephone rate every call recognises at."""
ATTEMPTS = 2
"""An utterance whose worker died is tried once more in a new worker."""
LOG_QUEUE_SIZE = 1000
"""Workers' log records waiting for the bot; a worker logging faster than the bot handles them
loses the excess rather than stall a recognition or grow the queue."""
PARENT_CHECK_S = 1.0
"""How often a worker checks that the bot that started it still runs: a bot killed outright
(SIGKILL, out of memory) cannot stop its workers, so they stop themselves."""


class Recogniser(Protocol):
    """What a worker runs: an engine that loads once and recognises one utterance."""

    def load(self) -> None: ...

    def recognise(
        self,
        samples: Samples,
        rate: int,
        hints: Sequence[str] = (),
        digits: DigitExpectation | None = None,
    ) -> Transcript: ...


_engine: Recogniser | None = None
"""The worker's engine (in a worker process only)."""


class _ToTheBot(logging.handlers.QueueHandler):
    """A worker's records onto the bot's queue, the excess dropped when it is full."""

    def enqueue(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(record)


class _InTheBot(logging.Handler):
    """Hands a worker's record to the bot's logger of the same name, as if logged there."""

    def handle(self, record: logging.LogRecord) -> bool:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
        return True


def _start_worker(factory: Callable[[], Recogniser], records: Any, level: int) -> None:
    """Worker initialiser: its log records to the bot (at the bot's level), numpy's BLAS on one
    thread (as in the bot), the engine loaded.

    The worker ignores SIGINT and SIGTERM: a Ctrl-C in the terminal or a service manager
    stopping the bot signals the whole process group, and the bot, draining its calls, still
    needs its recognisers; it stops them itself (or they follow it when it is gone)."""
    root = logging.getLogger()
    root.handlers[:] = [_ToTheBot(records)]
    root.setLevel(level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    limit_blas_threads()
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    ).start()
    global _engine
    _engine = factory()
    _engine.load()


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _ready(pause_s: float) -> int:
    """Run the worker's model once on sound (its first decode pays for CTranslate2's set-up)."""
    assert _engine is not None, "not a recognition worker"
    tone = np.sin(np.arange(WARM_UP_RATE // 2) * 2 * np.pi * 440 / WARM_UP_RATE) * 8000
    _engine.recognise(tone.astype(np.int16), WARM_UP_RATE)
    time.sleep(pause_s)
    return multiprocessing.current_process().pid or 0


def _recognise(
    samples: Samples, rate: int, hints: tuple[str, ...], digits: DigitExpectation | None
) -> Transcript:
    assert _engine is not None, "not a recognition worker"
    return _engine.recognise(samples, rate, hints, digits)


class RecogniserProcesses:
    """``count`` worker processes that recognise utterances with the engine ``factory`` makes
    (picklable: a class or a ``functools.partial`` of one)."""

    def __init__(self, factory: Callable[[], Recogniser], count: int) -> None:
        self.factory = factory
        self.count = max(1, count)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._context = multiprocessing.get_context("spawn")
        self._listener: logging.handlers.QueueListener | None = None

    def start(self) -> None:
        """Start every worker and wait until each has loaded the model."""
        pool = self._current()
        futures = [pool.submit(_ready, READY_PAUSE_S) for _ in range(self.count)]
        pids = {future.result() for future in futures}
        log.info("asr.workers.started", extra=fields(workers=len(pids)))

    def recognise(
        self,
        samples: Samples,
        rate: int,
        hints: Sequence[str],
        digits: DigitExpectation | None,
    ) -> Transcript:
        """One utterance, in a worker (blocking the calling thread, which holds no lock)."""
        for attempt in range(1, ATTEMPTS + 1):
            pool = self._current()
            try:
                return pool.submit(_recognise, samples, rate, tuple(hints), digits).result()
            except BrokenProcessPool as exc:
                self._replace(pool)
                log.warning("asr.worker_lost", extra=fields(attempt=attempt, error=str(exc)))
                if attempt == ATTEMPTS:
                    raise AsrError("the speech recognition worker died on this utterance") from exc
        raise AssertionError("unreachable")

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            listener, self._listener = self._listener, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if listener is not None:
            listener.stop()  # after the workers: their last records are handled first

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._listener is None:
                records = self._context.Queue(LOG_QUEUE_SIZE)
                self._listener = logging.handlers.QueueListener(records, _InTheBot())
                self._listener.start()
            if self._pool is None:
                level = logging.getLogger().getEffectiveLevel()
                self._pool = ProcessPoolExecutor(
                    max_workers=self.count,
                    mp_context=self._context,
                    initializer=_start_worker,
                    initargs=(self.factory, self._listener.queue, level),
                )
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Drop a broken pool (the first thread to see it does; the others find it replaced).

        Its surviving workers are killed: the executor stops them with SIGTERM, which workers
        ignore (:func:`_start_worker`), and then waits for them for ever, so they would stay
        (each with a model loaded) and the bot could never exit. Nothing is lost: a broken
        pool has already failed every utterance it held."""
        with self._lock:
            if self._pool is broken:
                self._pool = None
        for process in list((broken._processes or {}).values()):
            process.kill()
        broken.shutdown(wait=False, cancel_futures=True)
