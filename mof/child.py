"""Run one function in a child process with a time limit and read its result back.

Relaxation (LAMMPS) and zeo++ both run engines that can crash, hang or call the C ``exit()``;
each structure's engine work runs in a child process through :func:`run_in_child`:

* the child is ``python -m mof.child TARGET ARGS_JSON RESULT_JSON``: it imports ``TARGET``
  (``"package.module:function"``), calls it with the JSON arguments and writes
  ``{"value": ...}`` (or ``{"error": "Type: message"}`` when the function raised) to the result
  file, so the result must be JSON-serialisable;
* the child has no stdin, its own process group (so that a time-out kills whatever it started
  as well) and dies with its parent (it calls :func:`mof.resume.die_with_parent` itself at
  start-up: no Python runs between fork and exec, where a lock held by another thread of the
  parent at the fork would deadlock the child before its time limit even starts);
* when the parent is stopped while it waits (SIGTERM turned into SystemExit by
  :func:`mof.resume.exit_on_sigterm`, Ctrl-C), the child's group is killed before the exception
  goes on.

The outcome is typed: :class:`Done` (the value), :class:`TimedOut`, :class:`Crashed` (the
process ended without a result: its exit code and the last lines it printed) or
:class:`Failed` (the function raised; the message).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Crashed", "Done", "Failed", "Outcome", "TimedOut", "run_in_child"]

#: the environment variable that tells a child the PID of the process that started it
PARENT_ENV = "MOF_CHILD_PARENT"


@dataclass(frozen=True)
class Done:
    """The function returned ``value``."""

    value: Any


@dataclass(frozen=True)
class TimedOut:
    """The child ran longer than ``seconds`` and was killed (with its process group)."""

    seconds: float


@dataclass(frozen=True)
class Crashed:
    """The child ended without writing a result (a crash, ``exit()`` in an engine, a signal).

    ``exit_code`` is the process's return code (negative: killed by that signal); ``output``
    the last lines of its stdout and stderr, ``" | "``-joined.
    """

    exit_code: int
    output: str


@dataclass(frozen=True)
class Failed:
    """The function raised an exception in the child: ``"ExceptionType: message"``."""

    error: str


Outcome = Done | TimedOut | Crashed | Failed


def _target_name(func: str | Callable) -> str:
    if isinstance(func, str):
        if ":" not in func:
            raise ValueError(f"target {func!r} is not 'package.module:function'")
        return func
    module, name = func.__module__, func.__qualname__
    if module == "__main__" or "<" in name:
        raise ValueError(f"{func!r} cannot be imported by a child process")
    return f"{module}:{name}"


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def run_in_child(
    func: str | Callable,
    args: Sequence = (),
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    workdir: str | Path | None = None,
) -> Outcome:
    """Call ``func(*args)`` in a fresh Python process and return its outcome.

    Args:
        func: ``"package.module:function"`` or an importable module-level function.
        args: JSON-serialisable positional arguments.
        timeout: seconds before the child (and its process group) is killed; None: no limit.
        env: extra environment variables for the child (on top of this process's).
        workdir: folder for the result file (a temporary folder of its own when None).
    """
    from mof.resume import temp_prefix

    cmd = [sys.executable, "-m", "mof.child", _target_name(func), json.dumps(list(args))]
    child_env = {**os.environ, **(env or {}), PARENT_ENV: str(os.getpid())}
    own = tempfile.TemporaryDirectory(prefix=temp_prefix("child")) if workdir is None else None
    with own or contextlib.nullcontext():
        result = Path(own.name if own else workdir) / "child-result.json"
        result.unlink(missing_ok=True)
        cmd.append(str(result))
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=child_env,
            start_new_session=True,  # its own process group: killed as a whole
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return TimedOut(float(timeout or 0.0))
        except BaseException:  # SystemExit from SIGTERM, KeyboardInterrupt: no orphan engines
            _kill_group(proc)
            proc.wait()
            raise
        if not result.exists():
            return Crashed(proc.returncode, _tail(output or ""))
        doc = json.loads(result.read_text())
    if "error" in doc:
        return Failed(doc["error"])
    return Done(doc["value"])


def _main(target: str, args_json: str, result_path: str) -> None:
    """The child's side: import the target, call it, write the result file."""
    from mof.resume import die_with_parent

    parent = os.environ.get(PARENT_ENV)
    die_with_parent(int(parent) if parent else None)
    module, name = target.split(":", 1)
    func: Any = importlib.import_module(module)
    for part in name.split("."):
        func = getattr(func, part)
    try:
        doc = {"value": func(*json.loads(args_json))}
    except Exception as e:  # noqa: BLE001 - reported to the parent as Failed
        doc = {"error": f"{type(e).__name__}: {e}"}
    tmp = Path(result_path + ".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(result_path)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2], sys.argv[3])
