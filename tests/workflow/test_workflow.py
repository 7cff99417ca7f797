"""The Snakemake DAG on the tiny dataset under tests/data: dry run, real run, config errors."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, run_snakemake, write_test_config

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
    relaxed = pd.read_parquet(tmp_path / "results" / "relax" / "test" / "relaxed.parquet")
    assembled_path = tmp_path / "results" / "assemble" / "test" / "assembled.parquet"
    assert (
        len(relaxed)
        == pd.read_parquet(assembled_path)["status"].isin(["assembled", "bonded"]).sum()
    )
    # the generation benchmark runs the same stage code on the run's tables
    bench = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench_generate.py"),
            "--results",
            str(tmp_path / "results"),
            "--config",
            str(cfg),
            "--n",
            "3",
            "--out",
            str(tmp_path / "bench"),
            "--processes",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert bench.returncode == 0, bench.stderr[-3000:]
    assert re.search(r"sampled\s+3\s+100.0%", bench.stdout), bench.stdout
    for row in ("balanced", "relaxation finished", "valid + novel + unique", "memorisation"):
        assert row in bench.stdout, row
    assert (tmp_path / "bench" / "report" / "tables.md").exists()
    # nothing to do on a second run
    again = run_snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", "-n", "all")
    assert "Nothing to be done" in again.stdout + again.stderr
    # Snakemake's own HTML report of the run: funnel, loss curves, histograms, relaxation
    html = tmp_path / "report.html"
    rep = run_snakemake(tmp_path, "--configfile", str(cfg), "--report", str(html))
    assert rep.returncode == 0, rep.stderr[-3000:]
    text = html.read_text(errors="replace")
    assert len(text) > 100_000
    for name in ("funnel.csv", "relax.csv", "properties.png", "loss.png"):
        assert name in text, name


def test_relax_and_validate_rerun_alone_on_real_structures(tmp_path):
    """Put two real MOFs (and a broken CIF) where assembly writes its output: the next run
    relaxes and validates them and rebuilds the report, and nothing upstream."""
    import shutil

    from mof.tables import write_table
    from tests.conftest import CIFS

    cfg = write_test_config(tmp_path)
    res = run_snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", "all")
    assert res.returncode == 0, res.stderr[-3000:]
    results = tmp_path / "results"
    cif_dir = results / "assemble" / "test" / "cif"
    for f in cif_dir.iterdir():
        f.unlink()
    names = {"real-mof5": "EDUSIF_clean.cif", "real-hkust1": "FIQCEN_clean.cif"}
    names["broken"] = "broken_truncated.cif"
    for sid, src in names.items():
        shutil.copy(CIFS / src, cif_dir / f"{sid}.cif")
    table = pd.DataFrame(
        {
            "sample_id": list(names),
            "status": "assembled",
            "reason": "",
            "n_cp_node": 4,
            "n_cp_linker": 4,
            "cif": [f"{sid}.cif" for sid in names],
        }
    )
    write_table(table, results / "assemble" / "test" / "assembled.parquet")
    upstream = [results / "train" / "denoiser.pt", results / "sample" / "test" / "coarse.parquet"]
    before = [p.stat().st_mtime_ns for p in upstream]
    res = run_snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", "all")
    assert res.returncode == 0, res.stderr[-3000:]
    ran = set(re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", res.stdout + res.stderr))
    assert ran == {"relax_uff", "validate_mofs", "report", "all"}
    assert [p.stat().st_mtime_ns for p in upstream] == before
    relaxed = pd.read_parquet(results / "relax" / "test" / "relaxed.parquet").set_index("sample_id")
    assert relaxed.loc["broken", "reason"] == "bad_cif"
    for sid in ("real-mof5", "real-hkust1"):
        assert relaxed.loc[sid, "status"] == "relaxed"
        assert relaxed.loc[sid, "energy_final"] < relaxed.loc[sid, "energy_initial"]
        assert (results / "relax" / "test" / "cif" / f"{sid}.cif").exists()
    val = pd.read_parquet(results / "validate" / "test" / "validation.parquet")
    assert sorted(val["sample_id"]) == ["real-hkust1", "real-mof5"]
    assert val["valid"].all(), val[["sample_id", "reason"]]
    funnel = pd.read_csv(results / "report" / "test" / "funnel.csv").set_index("stage")
    assert funnel.loc["relaxed (strict)", "count"] == 2 and funnel.loc["valid", "count"] == 2
    assert funnel.loc["valid (strict)", "count"] == 2
    assert "[relax_uff] 3 assembled or bonded structures -> 2 relaxed" in res.stderr


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


@pytest.mark.parametrize("name", ["config.paper.yaml", "config.cpu-long.yaml"])
def test_override_config_changes_only_what_it_names_and_its_command_runs(tmp_path, name):
    """An override file (paper scale, the longer CPU run) names only keys of config.yaml, each
    with a value other than the default; the merged config passes the schema; and the command in
    the file's header, as written there (profile swapped for --cores, -n added at the end), builds
    the DAG. ``--configfile`` takes every name after it, so a target written after it would be
    read as a config file."""
    import shlex

    from snakemake.utils import update_config, validate

    base = yaml.safe_load((REPO / "config.yaml").read_text())
    text = (REPO / name).read_text()
    over = yaml.safe_load(text)
    merged = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(merged, over)
    for section, values in over.items():
        for key, value in values.items():
            assert key in base[section], f"{section}.{key} is not a key of config.yaml"
            assert base[section][key] != value, f"{section}.{key} repeats the default"
            assert merged[section][key] == value
    validate(merged, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    command = next(
        line.lstrip("#").strip()
        for line in text.splitlines()
        if line.lstrip("#").strip().startswith(".venv/bin/snakemake")
    )
    args = shlex.split(command)[1:]
    k = args.index("--profile")
    args[k : k + 2] = ["--cores", "2"]
    args = [str(REPO / a) if a == name else a for a in args]
    res = run_snakemake(tmp_path, *args, "-n")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "train_diffusion" in res.stdout + res.stderr
