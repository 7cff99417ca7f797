"""Interrupted runs: a relaxation batch killed part-way redoes only what had not finished, stale
temporary folders are swept, and the PID lock file keeps two processes off one file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from mof.resume import (
    LockHeld,
    PidLock,
    load_result,
    result_key,
    save_result,
    sweep_stale_temp,
)
from tests.conftest import REPO


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_lock_held_by_a_live_process_is_refused_and_a_dead_ones_taken_over(tmp_path):
    path = tmp_path / "checkpoint.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path.write_text(f"{holder.pid}\n")
        with pytest.raises(LockHeld, match=f"in use by process {holder.pid}"):
            PidLock(path, "the checkpoint").acquire()
        assert path.read_text().strip() == str(holder.pid)  # untouched
    finally:
        holder.kill()
        holder.wait()
    path.write_text(f"{_dead_pid()}\n")  # stale: its process is gone
    with PidLock(path) as lock:
        assert lock.held and path.read_text().strip() == str(os.getpid())
    assert not path.exists()


def test_stale_temporary_folders_of_dead_processes_are_swept(tmp_path):
    dead, live = _dead_pid(), os.getpid()
    (tmp_path / f"mofgen-relax-{dead}-abc").mkdir()
    (tmp_path / f"mofgen-relax-{live}-def").mkdir()
    removed = sweep_stale_temp(root=tmp_path)
    assert [p.name for p in removed] == [f"mofgen-relax-{dead}-abc"]
    assert (tmp_path / f"mofgen-relax-{live}-def").exists()


def test_a_saved_result_is_found_only_for_the_same_input_and_parameters(tmp_path):
    cif = tmp_path / "a.cif"
    cif.write_text("data_a\n")
    key = result_key(cif, {"max_iterations": 50})
    save_result(tmp_path / "resume", "a", key, {"sample_id": "a", "energy": float("nan")}, None)
    row, text = load_result(tmp_path / "resume", "a", key)
    assert row == {"sample_id": "a", "energy": None} and text is None
    assert load_result(tmp_path / "resume", "a", result_key(cif, {"max_iterations": 51})) is None
    cif.write_text("data_a\n# changed\n")
    assert load_result(tmp_path / "resume", "a", result_key(cif, {"max_iterations": 50})) is None


@pytest.mark.slow
def test_a_killed_relaxation_batch_reruns_only_what_had_not_finished(tmp_path, cif_dir):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(cif_dir / "ECEZAO01_clean.cif", src / f"{name}.cif")
    shutil.copy(cif_dir / "broken_truncated.cif", src / "broken.cif")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mof.cli", "relax", str(src), str(out), "--processes", "1"]
    cmd += ["--set", "max_iterations=50", "--set", "cycles=1"]
    # short minimisations for speed: their results are accepted as relaxed (not not_converged)
    cmd += ["--set", "force_tolerance=1e9", "--set", "max_pressure=1e9"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "resume").glob("a.json"))) < 1:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # no clean-up of any kind
    proc.wait()
    finished = {p.stem: p.stat().st_mtime_ns for p in (out / "resume").glob("*.json")}
    assert "a" in finished and "c" not in finished  # killed part-way (a, b, broken, c in order)
    assert not (out / "relaxed.parquet").exists()

    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"({len(finished)} kept from an earlier run)" in res.stdout
    assert "[relax] 4 CIFs -> 3 relaxed" in res.stdout
    for sid, mtime in finished.items():  # not recomputed
        assert (out / "resume" / f"{sid}.json").stat().st_mtime_ns == mtime
    df = pd.read_parquet(out / "relaxed.parquet").set_index("sample_id")
    assert sorted(df.index) == ["a", "b", "broken", "c"]
    assert set(df.loc[["a", "b", "c"], "status"]) == {"relaxed"}
    assert sorted(p.name for p in (out / "cif").iterdir()) == ["a.cif", "b.cif", "c.cif"]
    # the killed batch's temporary folder (if it had one) is gone after the rerun
    assert not list(Path(tempfile.gettempdir()).glob(f"mofgen-relax-{proc.pid}-*"))
