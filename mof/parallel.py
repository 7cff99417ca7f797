"""One way to run a per-structure function over many structures: in worker processes (fork),
in input order, with a progress bar on stderr. The per-structure stages (preprocess, assemble,
relax, validate) use it; dataset selection reads its source in one sequential pass instead."""

from __future__ import annotations

import sys
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
    with get_context("fork").Pool(
        processes, initializer, initargs, maxtasksperchild=maxtasksperchild
    ) as pool:
        return list(tqdm(pool.imap(fn, items, chunksize=chunk), **bar))
