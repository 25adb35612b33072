"""numpy's BLAS on one thread per process: the bot's numpy work is many small operations.

OpenBLAS's worker threads spin-wait after each operation for the next one. The per-frame audio
path (echo canceller, endpointer, G.711) and whisper's fitted encoder run thousands of small
operations a second across calls, so with OpenBLAS's default (a thread per core) its idle workers
kept both cores busy spinning: at 8 bench calls the bot used 102-105% of a core with 2 BLAS
threads and 38% with 1, and a full bench run spent 4 min 47 s in the kernel against 44 s
(README, Performance). Parallelism comes from calls and the engines' own thread pools instead.
"""

from __future__ import annotations

import numpy  # noqa: F401 - loads the BLAS to limit (threadpoolctl sees only loaded libraries)
from threadpoolctl import threadpool_limits

BLAS_THREADS = 1


def limit_blas_threads() -> None:
    """Run numpy's BLAS on ``BLAS_THREADS`` threads from now on, process-wide (idempotent)."""
    threadpool_limits(limits=BLAS_THREADS, user_api="blas")
