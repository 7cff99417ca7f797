"""Training: overfitting a handful of coarse MOFs, DDP with gloo, resumption, checkpoints."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.data import compute_stats, make_batch
from model.diffusion import CoarseDiffusion
from model.train import TrainConfig, build_diffusion, load_model, train
from tests.conftest import REPO


def _loss_at(model, mofs, stats, t_value):
    batch = make_batch(mofs, stats)
    t, noise = CoarseDiffusion.draw(batch, [1000 + i for i in range(len(mofs))])
    with torch.no_grad():
        out = model.loss(batch, torch.full_like(t, t_value), noise, self_cond=True)
    return {k: float(v) for k, v in out.items()}


def test_overfits_a_handful_of_coarse_mofs(coarse_mofs, torch_threads):
    mofs = coarse_mofs[:4]
    stats = compute_stats(mofs)
    cfg = TrainConfig(dim=32, layers=2, heads=4, steps=300, batch_size=4, lr=3e-3, warmup=10)
    torch_threads(2)
    torch.manual_seed(cfg.seed)
    before = _loss_at(build_diffusion(cfg, stats, 8), mofs, stats, 0.1)
    model, ema, history, _ = train(mofs, stats, cfg, progress=False)
    after = _loss_at(model, mofs, stats, 0.1)
    assert after["total"] < before["total"] / 3
    assert after["s"] < before["s"] / 10 and after["lattice"] < before["lattice"] / 10
    assert after["mu"] < before["mu"]
    assert history["loss"].tail(30).mean() < history["loss"].head(30).mean()


def test_resume_gives_the_same_model(coarse_mofs, tmp_path):
    mofs = coarse_mofs[:4]
    stats = compute_stats(mofs)
    cfg = TrainConfig(dim=16, layers=1, heads=2, steps=6, batch_size=2, checkpoint_every=2)
    full, _, h_full, _ = train(mofs, stats, cfg, checkpoint=tmp_path / "a.pt", progress=False)
    train(mofs, stats, cfg, checkpoint=tmp_path / "b.pt", stop_after=3, progress=False)
    msgs = []
    res, _, h_res, _ = train(
        mofs, stats, cfg, checkpoint=tmp_path / "b.pt", say=msgs.append, progress=False
    )
    assert any("resuming" in m and "step 3" in m for m in msgs)
    assert len(h_res) == 6
    for p, q in zip(full.parameters(), res.parameters()):
        torch.testing.assert_close(p, q)


def test_forced_rerun_trains_again(coarse_mofs, tmp_path):
    """A finished checkpoint (same config, same data) is not a training to resume: a rerun
    (snakemake --forcerun train_diffusion) trains every step again, to the same model."""
    mofs = coarse_mofs[:4]
    stats = compute_stats(mofs)
    cfg = TrainConfig(dim=16, layers=1, heads=2, steps=4, batch_size=2, checkpoint_every=2)
    first, _, _, _ = train(mofs, stats, cfg, checkpoint=tmp_path / "c.pt", progress=False)
    msgs = []
    again, _, hist, timing = train(
        mofs, stats, cfg, checkpoint=tmp_path / "c.pt", say=msgs.append, progress=False
    )
    assert timing["steps"] == 4 and len(hist) == 4
    assert any("finished" in m for m in msgs) and (tmp_path / "c.finished.pt").exists()
    for p, q in zip(first.parameters(), again.parameters()):
        torch.testing.assert_close(p, q)


def test_checkpoint_of_other_network_code_is_set_aside(coarse_mofs, tmp_path):
    """Same config and data, but parameter shapes the current code does not build (a change of
    the network's code): moved aside with a message instead of crashing in load_state_dict."""
    mofs = coarse_mofs[:4]
    stats = compute_stats(mofs)
    cfg = TrainConfig(dim=16, layers=1, heads=2, steps=4, batch_size=2, checkpoint_every=2)
    ckpt = tmp_path / "d.pt"
    train(mofs, stats, cfg, checkpoint=ckpt, stop_after=2, progress=False)
    state = torch.load(ckpt, weights_only=False)
    name = next(iter(state["model"]))
    state["model"][name] = torch.zeros(*state["model"][name].shape, 3)
    torch.save(state, ckpt)
    msgs = []
    _, _, hist, timing = train(mofs, stats, cfg, checkpoint=ckpt, say=msgs.append, progress=False)
    assert timing["steps"] == 4 and len(hist) == 4
    assert any("does not fit the current network code" in m and name in m for m in msgs)
    assert (tmp_path / "d.incompatible.pt").exists()


def _run_training(tmp_path: Path, tables, nproc: int, cfg: dict, tag: str):
    mofs_path, emb_path = tables
    out = tmp_path / tag
    out.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "model.train",
        "--mofs",
        str(mofs_path),
        "--embeddings",
        str(emb_path),
        "--config-json",
        json.dumps(cfg),
        "--model",
        str(out / "denoiser.pt"),
        "--loss",
        str(out / "loss.csv"),
        "--plot",
        str(out / "loss.png"),
        "--metrics",
        str(out / "metrics.json"),
        "--threads",
        "2",
        "--dump-rank-params",
        str(out / "params"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def table_files(tmp_path_factory, fixture_tables, random_embeddings):
    from mof.tables import write_table

    d = tmp_path_factory.mktemp("tables")
    write_table(fixture_tables[1], d / "mofs.parquet")
    write_table(random_embeddings, d / "emb.parquet")
    return d / "mofs.parquet", d / "emb.parquet"


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_one_process(tmp_path, table_files):
    import pandas as pd

    cfg = {
        "dim": 16,
        "layers": 1,
        "heads": 2,
        "steps": 4,
        "batch_size": 4,
        "warmup": 1,
        "checkpoint_every": 100,
        "device": "cpu",
    }
    one = _run_training(tmp_path, table_files, 1, cfg, "one")
    two = _run_training(tmp_path, table_files, 2, cfg, "two")
    r0 = torch.load(two / "params.rank0.pt")
    r1 = torch.load(two / "params.rank1.pt")
    single = torch.load(one / "params.rank0.pt")
    diffs = []
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks differ in {k}"
        diffs.append((r0[k] - single[k]).abs().flatten())
    diffs = torch.cat(diffs)
    # Adam turns float-rounding noise in near-zero gradients into steps of up to lr, so a few
    # parameters may differ by O(lr); the bulk must agree to float precision.
    assert diffs.median() < 1e-6 and diffs.max() <= 4 * 5e-4 + 1e-6
    l1 = pd.read_csv(one / "loss.csv")["loss"].to_numpy()
    l2 = pd.read_csv(two / "loss.csv")["loss"].to_numpy()
    assert len(l1) == len(l2) == 4
    assert abs(l1 - l2).max() < 1e-4 * max(1.0, abs(l1).max())
    metrics = json.loads((two / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["val_loss"]["total"] > 0
    model, tcfg, state = load_model(two / "denoiser.pt")
    assert tcfg.dim == 16 and state["emb_dim"] == 8


def test_load_model_rejects_foreign_files(tmp_path):
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a coarse-diffusion checkpoint"):
        load_model(tmp_path / "other.pt")


def test_a_second_trainer_on_a_locked_checkpoint_refuses_with_a_message(tmp_path):
    """A trainer left running by a killed Snakemake holds the checkpoint lock: a new trainer on
    the same checkpoint stops at once, naming the process, and leaves the lock alone."""
    import subprocess
    import sys

    from model.train import main

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "checkpoint.lock").write_text(f"{holder.pid}\n")
        args = ["--mofs", "m.parquet", "--embeddings", "e.parquet", "--loss", "l.csv"]
        args += ["--plot", "p.png", "--metrics", "x.json", "--model", str(tmp_path / "d.pt")]
        with pytest.raises(SystemExit, match=f"refusing to train.*in use by process {holder.pid}"):
            main(args)
        assert (tmp_path / "checkpoint.lock").read_text().strip() == str(holder.pid)
    finally:
        holder.kill()
        holder.wait()


def test_the_speed_line_makes_sense_when_no_step_was_run():
    from model.train import speed_text

    assert speed_text(12.34) == "12.3 MOFs/s"
    assert "nan" not in speed_text(None) and "resumed" in speed_text(None)


def test_batches_of_similar_size_still_draw_every_structure_equally_often():
    import numpy as np

    from model.train import global_batch

    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 51, size=100)
    plain, bucketed = TrainConfig(batch_size=8, bucket=1), TrainConfig(batch_size=8, bucket=4)
    steps = 3000
    counts = np.zeros(100)
    spread = {"plain": [], "bucketed": []}
    for step in range(steps):
        idx, seeds, _ = global_batch(100, bucketed, step, sizes)
        assert len(idx) == len(set(idx.tolist())) == len(seeds) == 8
        np.add.at(counts, idx, 1)
        spread["bucketed"].append(np.ptp(sizes[idx]))
        spread["plain"].append(np.ptp(sizes[global_batch(100, plain, step, sizes)[0]]))
    # each structure is in the pool with probability 32/100 and its slice is chosen 1 time in 4
    expected = steps * 8 / 100
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 160, chi2  # 99 degrees of freedom: mean 99, sd 14
    # a batch holds structures of similar K: the range of K within a batch shrinks
    assert np.mean(spread["bucketed"]) < 0.4 * np.mean(spread["plain"])
    # the same step gives the same batch (resumption and DDP ranks rely on it)
    a, b = global_batch(100, bucketed, 17, sizes), global_batch(100, bucketed, 17, sizes)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
