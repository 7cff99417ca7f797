"""Logging for rule scripts: progress bars and details go to the rule's log file, the one-line
stage summary also to the terminal. A configuration error met at run time (a missing folder, a
file where a folder is expected) is one line on the terminal and in the log, not a traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from mof.configcheck import ConfigError

# errors that mean "the config points at the wrong thing": reported in one line
CONFIG_ERRORS = (ConfigError, FileNotFoundError, NotADirectoryError, IsADirectoryError)


@contextlib.contextmanager
def stage_log(path: str | Path | None) -> Iterator[Callable[[str], None]]:
    """Redirect stdout/stderr to ``path`` (when given) and yield ``say(msg)``, which writes a
    line both to the log and to the original stderr. A :data:`CONFIG_ERRORS` error raised inside
    is said in one line and becomes ``SystemExit(1)``."""
    terminal = sys.stderr
    if path is None:
        say = lambda msg: print(msg, file=terminal, flush=True)  # noqa: E731
        with _one_line_errors(say):
            yield say
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh, contextlib.redirect_stderr(fh), contextlib.redirect_stdout(fh):

        def say(msg: str) -> None:
            print(msg, file=fh, flush=True)
            print(msg, file=terminal, flush=True)

        with _one_line_errors(say):
            yield say


@contextlib.contextmanager
def _one_line_errors(say: Callable[[str], None]) -> Iterator[None]:
    try:
        yield
    except CONFIG_ERRORS as e:
        say(f"error: {e}")
        raise SystemExit(1) from None
