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
