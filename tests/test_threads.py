"""The bot's process runs numpy's BLAS on one thread (idle OpenBLAS workers spin on the cores)."""

from __future__ import annotations

from threadpoolctl import threadpool_info

from ivr.threads import BLAS_THREADS, limit_blas_threads


def test_numpy_blas_runs_on_one_thread_once_limited() -> None:
    limit_blas_threads()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy's BLAS was not found"
    assert BLAS_THREADS == 1
    assert all(pool["num_threads"] == BLAS_THREADS for pool in blas)
