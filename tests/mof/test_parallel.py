"""The one parallel map (mof/parallel.py): order kept, and no hang on a worker stuck since fork."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

from mof import parallel


def _square(x: int) -> int:
    return x * x


def _maybe_get_stuck(claim: str) -> None:
    """The first worker to start blocks SIGTERM and sleeps for good: a stand-in for a worker
    deadlocked on a lock inherited at the fork, which never runs a SIGTERM handler."""
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    while True:
        time.sleep(3600)


def test_results_keep_the_input_order():
    items = list(range(40))
    assert parallel.progress_map(_square, items, processes=2, progress=False) == [
        x * x for x in items
    ]


def test_a_worker_stuck_since_fork_does_not_hang_the_map(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "GRACE_SECONDS", 0.5)
    out: list = []

    def run():
        out.append(
            parallel.progress_map(
                _square,
                list(range(10)),
                processes=2,
                initializer=_maybe_get_stuck,
                initargs=(str(tmp_path / "stuck"),),
                progress=False,
            )
        )

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    stuck = tmp_path / "stuck"
    alive = t.is_alive()
    if alive:  # clean up, so that the failure does not hang the test session
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(stuck.read_text()), signal.SIGKILL)
    assert stuck.exists()  # one worker did get stuck
    assert not alive, "progress_map hung on the stuck worker"
    assert out == [[x * x for x in range(10)]]


def _blas_threads(_: int) -> list[int]:
    from threadpoolctl import threadpool_info

    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_workers_run_one_blas_thread_and_the_callers_initializer():
    import numpy as np  # noqa: F401  (loads the BLAS that the workers inherit)

    out = parallel.progress_map(_blas_threads, [0, 1, 2, 3], processes=2, progress=False)
    assert all(threads and set(threads) == {1} for threads in out)
    # the caller's initializer still runs in each worker (it sets module state there)
    assert parallel.progress_map(
        _initialised, [0, 1], processes=2, initializer=_set_state, initargs=(7,), progress=False
    ) == [7, 7]


_STATE = {"v": 0}


def _set_state(v: int) -> None:
    _STATE["v"] = v


def _initialised(_: int) -> int:
    return _STATE["v"]
