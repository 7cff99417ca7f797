"""Logging for rule scripts: progress bars and details go to the rule's log file, the one-line
stage summary also to the terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def stage_log(path: str | Path | None) -> Iterator[callable]:
    """Redirect stdout/stderr to ``path`` (when given) and yield ``say(msg)``, which writes a
    line both to the log and to the original stderr."""
    terminal = sys.stderr
    if path is None:
        yield lambda msg: print(msg, file=terminal, flush=True)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stderr(fh), contextlib.redirect_stdout(fh):

        def say(msg: str) -> None:
            print(msg, file=fh, flush=True)
            print(msg, file=terminal, flush=True)

        yield say
