"""The whole DAG through profiles/slurm against a real SLURM cluster.

Runs when a SLURM cluster answers (`.ci/run` starts a single-node one with
scripts/slurm-ci-cluster.sh); skipped otherwise. The repository's SLURM profile is used as it is,
scaled to the CI node (threads, memory and GPUs capped to what one node has), then a parameter
change of the last stage reruns that stage alone.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_snakemake, write_test_config


def _cluster_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and ("idle" in out.stdout or "mix" in out.stdout)


# .ci/run sets MOFGEN_REQUIRE_SLURM=1: there a missing cluster is a failure, not a skip
REQUIRED = os.environ.get("MOFGEN_REQUIRE_SLURM") == "1"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.slurm,
    pytest.mark.skipif(
        not REQUIRED and not _cluster_up(),
        reason="no SLURM cluster (start one: bash scripts/slurm-ci-cluster.sh start)",
    ),
]


def _scaled_profile(dest: Path, logdir: Path) -> Path:
    prof = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    cpus = os.cpu_count() or 1
    prof["set-threads"] = {k: min(int(v), cpus) for k, v in prof["set-threads"].items()}
    for res in [prof["default-resources"], *prof["set-resources"].values()]:
        if "mem_mb" in res:
            res["mem_mb"] = min(int(res["mem_mb"]), 2000)
        if "gpu" in res:
            res["gpu"] = min(int(res["gpu"]), 1)
    prof["slurm-init-seconds-before-status-checks"] = 5
    prof["slurm-no-account"] = True
    prof["retries"] = 0
    prof["slurm-keep-successful-logs"] = True
    prof["slurm-logdir"] = str(logdir)
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(prof))
    return dest


def _job_ids(text: str) -> list[str]:
    return re.findall(r"submitted with SLURM jobid (\d+)", text)


def _scontrol(job: str) -> str:
    res = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True)
    return res.stdout


def test_whole_dag_through_slurm_then_rerun_only_the_changed_stages(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cfg = write_test_config(work)
    profile = _scaled_profile(tmp_path / "profile", tmp_path / "slurm_logs")
    res = run_snakemake(
        work, "--configfile", str(cfg), "--profile", str(profile), "all", timeout=1500
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    ids = _job_ids(out)
    rules = [
        "select_dataset",
        "preprocess",
        "embed_building_blocks",
        "train_diffusion",
        "sample_coarse",
        "assemble_mofs",
        "relax_uff",
        "validate_mofs",
        "report",
    ]
    assert len(set(ids)) >= len(rules), out[-3000:]
    # every rule's job went through SLURM: one plugin log per job, named by its SLURM job id
    logs = list((tmp_path / "slurm_logs").rglob("*.log"))
    logged_rules = {part for p in logs for part in p.parts if part.startswith("rule_")}
    for rule in rules:
        assert any(name.startswith(f"rule_{rule}") for name in logged_rules), logged_rules
    assert {p.stem for p in logs} >= set(ids)
    # GPU rules asked for a GPU in the GPU partition; the CPU rules did not
    by_rule = {}
    for j in set(ids):
        info = _scontrol(j)
        m = re.search(r"Comment=rule_([a-z_]+?)(?:_wildcards\S*)?\s", info)
        if m:
            by_rule[m.group(1)] = info
    assert set(by_rule) >= set(rules), list(by_rule)
    for rule in ("embed_building_blocks", "train_diffusion", "sample_coarse"):
        assert "Partition=gpu" in by_rule[rule]
        assert "gres:gpu:1" in by_rule[rule] or "gres/gpu:1" in by_rule[rule], by_rule[rule]
    cpu_rules = ("select_dataset", "preprocess", "assemble_mofs", "relax_uff", "validate_mofs")
    for rule in (*cpu_rules, "report"):
        assert "Partition=cpu" in by_rule[rule]
        assert "gres:gpu" not in by_rule[rule] and "gres/gpu" not in by_rule[rule]
    # the preprocess job got the threads of its profile entry (scaled to the node)
    assert "NumCPUs=2" in by_rule["preprocess"] or "cpu=2" in by_rule["preprocess"]
    assert (work / "results" / "assemble" / "test" / "assembled.parquet").exists()

    # change a relaxation setting: relax_uff, validate_mofs and report rerun, nothing upstream
    trained = work / "results" / "train" / "denoiser.pt"
    sampled = work / "results" / "sample" / "test" / "coarse.parquet"
    before = {p: p.stat().st_mtime_ns for p in (trained, sampled)}
    c = yaml.safe_load(Path(cfg).read_text())
    c.setdefault("relax", {})["cycles"] = 1
    Path(cfg).write_text(yaml.safe_dump(c))
    dry = run_snakemake(work, "--configfile", str(cfg), "--profile", str(profile), "-n", "all")
    stats = re.search(r"Job stats:(.*?)\n\n", dry.stdout + dry.stderr, flags=re.S)
    assert stats, dry.stdout[-2000:]
    planned = set(re.findall(r"^(\w+)\s+\d+\s*$", stats.group(1), flags=re.M)) - {"total"}
    assert planned == {"relax_uff", "validate_mofs", "report", "all"}
    again = run_snakemake(
        work, "--configfile", str(cfg), "--profile", str(profile), "all", timeout=900
    )
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert len(set(_job_ids(again.stdout + again.stderr))) == 3
    assert {p: p.stat().st_mtime_ns for p in (trained, sampled)} == before
