"""The Snakemake DAG on the tiny dataset under tests/data: dry run, real run, config errors."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import run_snakemake, write_test_config

pytestmark = pytest.mark.slow


def test_dry_run_lists_the_dag(tmp_path):
    cfg = write_test_config(tmp_path)
    res = run_snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", "-n", "all")
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    for rule in ("select_dataset", "preprocess", "all"):
        assert rule in out


def test_full_run_on_tiny_dataset(tmp_path):
    cfg = write_test_config(tmp_path)
    res = run_snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", "all")
    assert res.returncode == 0, res.stderr[-3000:]
    pre = tmp_path / "results" / "preprocess"
    mofs = pd.read_parquet(pre / "mofs.parquet")
    rejects = pd.read_parquet(pre / "rejects.parquet")
    blocks = pd.read_parquet(pre / "building_blocks.parquet")
    structures = pd.read_parquet(tmp_path / "results" / "dataset" / "structures.parquet")
    assert len(mofs) + len(rejects) == len(structures) == 11
    assert set(rejects["reason"]) == {
        "parse_error",
        "no_metal",
        "isolated_molecule",
        "periodic_component",
    }
    assert len(blocks) > 0 and blocks["count"].sum() == mofs["n_blocks"].sum()
    report = (tmp_path / "results" / "report" / "test" / "tables.md").read_text()
    assert "## Funnel" in report and "MOFDiff" in report
    # summary lines reach the terminal and the logs
    assert "[preprocess] 11 in -> 7 decomposed, 4 rejected" in res.stderr
    log = (tmp_path / "logs" / "preprocess" / "preprocess.log").read_text()
    assert "[preprocess]" in log
    # nothing to do on a second run
    again = run_snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", "-n", "all")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda c: c["dataset"].update(sampel_size=3), "sampel_size"),
        (lambda c: c["preprocess"].update(sigma_floor=-1.0), "sigma_floor"),
        (lambda c: c["dataset"].update(source="zenodo"), "zenodo"),
    ],
)
def test_bad_config_stops_with_a_message_naming_it(tmp_path, edit, needle):
    cfg_path = write_test_config(tmp_path)
    cfg = yaml.safe_load(Path(cfg_path).read_text())
    edit(cfg)
    Path(cfg_path).write_text(yaml.safe_dump(cfg))
    res = run_snakemake(tmp_path, "--configfile", str(cfg_path), "--cores", "1", "-n", "all")
    assert res.returncode != 0
    assert needle in res.stdout + res.stderr
