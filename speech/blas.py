"""numpy's BLAS on one thread per process: the bot's numpy work is many small operations.

OpenBLAS's worker threads spin-wait after each operation for the next one. The per-frame audio
path (echo canceller, endpointer, G.711) and whisper's fitted encoder run thousands of small
operations a second across calls, so with OpenBLAS's default (a thread per core) its idle workers
kept the cores busy spinning (the figures: README, Performance). Parallelism comes from calls and
the engines' own thread pools instead.
"""

from __future__ import annotations

import numpy  # noqa: F401 - loads the BLAS to limit (threadpoolctl sees only loaded libraries)
from threadpoolctl import threadpool_limits

BLAS_THREADS = 1


def limit_blas_threads() -> None:
    """Run numpy's BLAS on ``BLAS_THREADS`` threads from now on, process-wide (idempotent)."""
    threadpool_limits(limits=BLAS_THREADS, user_api="blas")
