"""The bot's process runs numpy's BLAS on one thread (idle OpenBLAS workers spin on the cores)."""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits

from speech.blas import limit_blas_threads


def test_numpy_blas_runs_on_one_thread_once_limited() -> None:
    threadpool_limits(limits=2, user_api="blas")  # as a library may have left it
    limit_blas_threads()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas, "numpy's BLAS was not found"
    assert [pool["num_threads"] for pool in blas] == [1] * len(blas)
