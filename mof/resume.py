"""Interrupted runs: per-structure results that survive a killed batch, temporary folders that do
not outlive their process, and a lock file that keeps two processes off one checkpoint.

* :func:`result_key`, :func:`load_result`, :func:`save_result`: one JSON file per finished
  structure (``<resume_dir>/<id>.json``), keyed by a hash of the input CIF's bytes and the
  parameters; a rerun with the same input and parameters takes the row (and the relaxed CIF) from
  it instead of computing it again.
* :func:`temp_prefix`, :func:`sweep_stale_temp`: temporary folders carry the PID of the process
  that made them, so a later run removes those whose process is dead (killed with SIGKILL,
  where no ``finally`` runs).
* :func:`die_with_parent`: called by a child process at start-up so that it dies with its parent.
* :class:`PidLock`: a lock file holding its owner's PID; refused while that process lives, taken
  over when it is dead.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import tempfile
from pathlib import Path

# ----------------------------------------------------------------------------------------------
# Processes
# ----------------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (zombies count as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def die_with_parent(parent: int | None = None) -> None:
    """Make this process receive SIGKILL when its parent dies (Linux only; a no-op elsewhere),
    so that a killed batch leaves no engine running on its own. Called by the child itself at
    start-up (never as a ``preexec_fn``: Python code between fork and exec can deadlock on a
    lock another thread held at the fork). With ``parent`` (the PID that started this process),
    exits at once when that parent is already gone."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if parent is not None and os.getppid() != parent:  # it died before the prctl
        os._exit(1)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that ``finally`` blocks (temporary folders, child
    processes) run when a batch is stopped."""

    def _exit(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


# ----------------------------------------------------------------------------------------------
# Temporary folders
# ----------------------------------------------------------------------------------------------


def temp_prefix(kind: str = "relax") -> str:
    """``mofgen-<kind>-<pid>-``: the prefix of this process's temporary folders."""
    return f"mofgen-{kind}-{os.getpid()}-"


def sweep_stale_temp(kind: str = "relax", root: str | Path | None = None) -> list[Path]:
    """Remove the ``mofgen-<kind>-<pid>-*`` folders under ``root`` (the system temp folder) whose
    process is dead; returns what was removed."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for d in root.glob(f"mofgen-{kind}-*-*"):
        pid = d.name.split("-")[2]
        if pid.isdigit() and not pid_alive(int(pid)) and d.is_dir():
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


# ----------------------------------------------------------------------------------------------
# Per-structure results
# ----------------------------------------------------------------------------------------------


def result_key(cif: str | Path, params: dict) -> str:
    """Hash of the input CIF's bytes and the parameters (an unreadable input hashes its error)."""
    h = hashlib.sha256()
    try:
        h.update(Path(cif).read_bytes())
    except OSError as e:
        h.update(f"unreadable: {e}".encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def _jsonable(v):
    if hasattr(v, "item"):  # numpy / pandas scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def save_result(resume_dir: str | Path, sid: str, key: str, row: dict, cif_text: str | None):
    """Write ``<resume_dir>/<sid>.json`` atomically: the key, the row, the output CIF's text."""
    d = Path(resume_dir)
    d.mkdir(parents=True, exist_ok=True)
    doc = {"key": key, "row": {k: _jsonable(v) for k, v in row.items()}, "cif": cif_text}
    tmp = d / f".{sid}.json.tmp"
    tmp.write_text(json.dumps(doc))
    tmp.replace(d / f"{sid}.json")


def load_result(resume_dir: str | Path, sid: str, key: str) -> tuple[dict, str | None] | None:
    """(row, output CIF text) saved for ``sid`` under the same key, else None."""
    path = Path(resume_dir) / f"{sid}.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key or "row" not in doc:
        return None
    return doc["row"], doc.get("cif")


# ----------------------------------------------------------------------------------------------
# Lock file
# ----------------------------------------------------------------------------------------------


class LockHeld(RuntimeError):
    """Another live process holds the lock."""


class PidLock:
    """A lock file holding the owner's PID (use as a context manager).

    Refused with :class:`LockHeld` while the PID in the file belongs to a live process other
    than this one; a lock whose process is dead (a trainer killed with SIGKILL) is taken over.
    """

    def __init__(self, path: str | Path, what: str = "this file"):
        self.path = Path(path)
        self.what = what
        self.held = False

    def owner(self) -> int | None:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = self.owner()
                if pid == os.getpid():
                    self.held = True
                    return
                if pid is not None and pid_alive(pid):
                    raise LockHeld(
                        f"{self.what} is in use by process {pid} (lock {self.path}); stop that "
                        "process first (it may be left over from a killed run)"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is dead
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            self.held = True
            return
        raise LockHeld(f"could not take the lock {self.path}")

    def release(self) -> None:
        if self.held and self.owner() == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> PidLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
