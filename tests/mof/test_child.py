"""The child-process helper: results, time-outs (the whole process group killed), crashes with
their exit code, exceptions as messages. Targets are standard-library functions, so the child
needs nothing from the tests."""

from __future__ import annotations

import math
import time

import pytest

from mof.child import Crashed, Done, Failed, TimedOut, run_in_child
from mof.resume import pid_alive


def test_a_normal_result_comes_back():
    assert run_in_child("math:hypot", [3.0, 4.0], timeout=60) == Done(5.0)
    assert run_in_child(math.hypot, [6, 8]) == Done(10.0)  # a function object works as well


def test_a_child_over_its_time_limit_is_killed_with_what_it_started(tmp_path):
    pid_file = tmp_path / "pid"
    # sh writes its PID and becomes a sleep: a grandchild of this process
    script = f"echo $$ > {pid_file}; exec sleep 60"
    t0 = time.perf_counter()
    out = run_in_child("os:system", [script], timeout=2.0)
    assert out == TimedOut(2.0)
    assert time.perf_counter() - t0 < 20
    pid = int(pid_file.read_text())
    deadline = time.time() + 5
    while pid_alive(pid) and time.time() < deadline:  # a zombie until init reaps it
        time.sleep(0.1)
    assert not pid_alive(pid) or _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_a_child_that_exits_is_reported_as_crashed_with_its_code():
    out = run_in_child("os:_exit", [3], timeout=60)
    assert isinstance(out, Crashed) and out.exit_code == 3


def test_an_exception_in_the_child_is_a_message():
    out = run_in_child("json:loads", ["{not json"], timeout=60)
    assert isinstance(out, Failed) and out.error.startswith("JSONDecodeError:")


def test_the_result_file_goes_to_the_given_folder(tmp_path):
    assert run_in_child("math:sqrt", [16.0], workdir=tmp_path) == Done(4.0)
    assert (tmp_path / "child-result.json").exists()


def test_a_lambda_is_refused():
    with pytest.raises(ValueError, match="cannot be imported"):
        run_in_child(lambda: 1)


def write_pid_and_sleep(path: str) -> None:
    """A child target for the test below: its PID to ``path``, then sleep."""
    import os
    from pathlib import Path

    Path(path).write_text(str(os.getpid()))
    time.sleep(120)


def test_a_child_dies_with_the_process_that_started_it(tmp_path):
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    pid_file = tmp_path / "pid"
    code = (
        "from mof.child import run_in_child; "
        f"run_in_child('tests.mof.test_child:write_pid_and_sleep', [{str(pid_file)!r}])"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    deadline = time.time() + 60
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert pid_alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while pid_alive(child) and not _is_zombie(child) and time.time() < deadline:
        time.sleep(0.1)
    assert not pid_alive(child) or _is_zombie(child)


def test_no_python_runs_between_fork_and_exec(monkeypatch):
    """A ``preexec_fn`` runs Python in the forked child, where a lock held by another thread of
    the parent (a worker with BLAS threads) deadlocks it before exec: Popen never returns and
    the time limit never starts. The child sets its parent-death signal itself instead."""
    import subprocess

    import mof.child

    seen = []

    class Recording(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs.get("preexec_fn"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(mof.child.subprocess, "Popen", Recording)
    assert run_in_child("math:sqrt", [9.0], timeout=60) == Done(3.0)
    assert seen == [None]
