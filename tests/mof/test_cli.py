"""Relax and validate a folder of CIFs from the command line."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_relax_then_validate_a_folder(tmp_path, cif_dir):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(cif_dir / "EDUSIF_clean.cif", src / "mof5.cif")
    shutil.copy(cif_dir / "broken_truncated.cif", src / "broken.cif")
    cmd = [sys.executable, "-m", "mof.cli", "relax", str(src), str(tmp_path / "r")]
    res = subprocess.run([*cmd, "--processes", "2"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[relax] 2 CIFs -> 1 relaxed" in res.stdout and "bad_cif 1" in res.stdout
    relaxed = pd.read_parquet(tmp_path / "r" / "relaxed.parquet").set_index("sample_id")
    assert (
        relaxed.loc["mof5", "status"] == "relaxed" and relaxed.loc["broken", "status"] == "failed"
    )
    cmd = [sys.executable, "-m", "mof.cli", "validate", str(tmp_path / "r" / "cif")]
    res = subprocess.run([*cmd, str(tmp_path / "v")], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[validate] 1 CIFs -> 1 valid" in res.stdout
    val = pd.read_parquet(tmp_path / "v" / "validation.parquet")
    assert list(val["sample_id"]) == ["mof5"]


def test_a_missing_folder_is_a_clear_error(tmp_path):
    cmd = [sys.executable, "-m", "mof.cli", "relax", str(tmp_path / "nope"), str(tmp_path / "o")]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 2
    assert "does not exist" in res.stderr and "Traceback" not in res.stderr


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mof.cli", *args], capture_output=True, text=True, cwd=REPO
    )


def test_a_non_positive_timeout_is_refused(tmp_path, cif_dir):
    for value in ("-5", "0"):
        res = _cli("relax", str(cif_dir), str(tmp_path / "o"), "--timeout", value)
        assert res.returncode == 2 and "must be positive" in res.stderr
    assert not (tmp_path / "o").exists()


def test_an_out_dir_that_is_a_file_is_a_clear_error(tmp_path, cif_dir):
    (tmp_path / "o").write_text("")
    for command in ("relax", "validate"):
        res = _cli(command, str(cif_dir), str(tmp_path / "o"))
        assert res.returncode == 2 and "is a file, not a folder" in res.stderr
        assert "Traceback" not in res.stderr


def test_upper_case_extensions_are_cifs(tmp_path, cif_dir):
    from mof.io import cif_paths

    for name in ("a.CIF", "b.Cif", "c.cif"):
        shutil.copy(cif_dir / "ECEZAO01_clean.cif", tmp_path / name)
    (tmp_path / "d.txt").write_text("")
    assert [sid for sid, _ in cif_paths(tmp_path)] == ["a", "b", "c"]
    res = _cli("validate", str(tmp_path), str(tmp_path / "v"), "--set", "max_atoms=10")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[validate] 3 CIFs -> 0 valid; failures: too_many_atoms 3" in res.stdout
