"""One way to run a per-structure function over many structures: in worker processes (fork),
in input order, with a progress bar on stderr. The per-structure stages (preprocess, assemble,
relax, validate) use it; dataset selection reads its source in one sequential pass instead.

A forked worker can deadlock on a lock that another thread of the parent held at the fork (seen
once in CI: a relax_uff worker asleep on a futex after all its structures were done, with
SIGTERM caught but never handled), and ``Pool.terminate`` then waits for it forever. The pool
is therefore shut down by :func:`_shut_down`: close, a short grace for the workers to exit, then
SIGKILL for any that did not.

The processes are the parallelism: each worker's BLAS runs one thread. OpenBLAS otherwise starts
a thread per core in every worker, and its spinning threads made the assembly fit (small matrix
products) five times slower with two workers on two cores."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from multiprocessing import get_context

from tqdm import tqdm


def progress_map(
    fn: Callable,
    items: Sequence,
    processes: int = 1,
    desc: str = "",
    initializer: Callable | None = None,
    initargs: tuple = (),
    min_parallel: int = 2,
    maxtasksperchild: int | None = None,
    progress: bool = True,
) -> list:
    """``[fn(x) for x in items]``, over ``processes`` forked workers when there are at least
    ``min_parallel`` items, else in this process. ``initializer(*initargs)`` runs once per worker
    (or once here) to set module state that ``fn`` reads."""
    bar = dict(
        total=len(items),
        desc=desc,
        unit="mof",
        file=sys.stderr,
        disable=not progress,
        mininterval=1.0,
    )
    if processes <= 1 or len(items) < min_parallel:
        if initializer is not None:
            initializer(*initargs)
        return [fn(x) for x in tqdm(items, **bar)]
    chunk = max(1, min(16, len(items) // (processes * 8)))
    pool = get_context("fork").Pool(
        processes, _start_worker, (initializer, initargs), maxtasksperchild=maxtasksperchild
    )
    done = False
    try:
        out = list(tqdm(pool.imap(fn, items, chunksize=chunk), **bar))
        done = True
        return out
    finally:
        _shut_down(pool, grace=GRACE_SECONDS if done else 0.0)


GRACE_SECONDS = 10.0


def _start_worker(initializer: Callable | None, initargs: tuple) -> None:
    """A worker's start: BLAS limited to one thread, then the caller's ``initializer``."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    if initializer is not None:
        initializer(*initargs)


def _shut_down(pool, grace: float) -> None:
    """Close ``pool`` and wait up to ``grace`` seconds for its workers to exit, then kill the
    rest (SIGKILL: a worker deadlocked since the fork never runs a SIGTERM handler) and join."""
    workers = list(pool._pool)  # the worker processes (multiprocessing.Process objects)
    pool.close()
    end = time.monotonic() + grace
    for w in workers:
        w.join(max(0.0, end - time.monotonic()))
    for w in workers:
        if w.is_alive():
            w.kill()
    pool.terminate()
    pool.join()
