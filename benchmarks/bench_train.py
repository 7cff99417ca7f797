"""Benchmark of the coarse diffusion training on the default dataset.

Needs the preprocess and embedding outputs of the default run (results/preprocess/mofs.parquet,
results/embed/embeddings.parquet; run the README's main command first). Trains with the default
`train` settings of config.yaml in this process (1 process, CPU unless a GPU is present) and
prints training throughput (coarse MOFs per second) and the validation denoising loss after the
default budget, next to the loss of the untrained network on the same validation draws.

    .venv/bin/python benchmarks/bench_train.py --threads 2 [--steps N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from model.data import compute_stats, load_coarse_mofs
from model.train import TrainConfig, build_diffusion, train, validation_loss
from mof.io import read_yaml
from mof.tables import read_table

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = Path(args.results)
    mofs = read_table(res / "preprocess" / "mofs.parquet")
    emb = read_table(res / "embed" / "embeddings.parquet")
    coarse = load_coarse_mofs(mofs, emb)
    tr = [m for m in coarse if m.split == "train"]
    va = [m for m in coarse if m.split == "val"]
    stats = compute_stats(tr)
    cfgd = read_yaml(REPO / "config.yaml")["train"]
    if args.steps:
        cfgd["steps"] = args.steps
    cfg = TrainConfig.from_dict(cfgd)
    device = torch.device("cuda" if torch.cuda.is_available() and cfg.device != "cpu" else "cpu")
    torch.manual_seed(cfg.seed)
    untrained = validation_loss(
        build_diffusion(cfg, stats, tr[0].emb.shape[1]).to(device), va, stats, device
    )
    t0 = time.perf_counter()
    _, ema, history, timing = train(tr, stats, cfg, device=device, progress=False)
    wall = time.perf_counter() - t0
    val = validation_loss(ema, va, stats, device)
    n_params = sum(p.numel() for p in ema.parameters())
    print(
        f"coarse MOFs: {len(tr)} train, {len(va)} val; K median "
        f"{sorted(m.k for m in tr)[len(tr) // 2]}; model {n_params:,} parameters "
        f"(dim {cfg.dim}, {cfg.layers} IGA layers, {cfg.heads} heads)"
    )
    print(
        f"training: {cfg.steps} steps x batch {cfg.batch_size} in {wall:.0f} s on {device} "
        f"({args.threads} threads): {timing['steps'] * cfg.batch_size / timing['seconds']:.1f} "
        "coarse MOFs/s"
    )
    keys = ("total", "mu", "sigma", "s", "lattice")
    print("validation denoising loss (EMA weights, 4 fixed noise draws per structure):")
    print("  " + "  ".join(f"{k:>8s}" for k in ("", *keys)))
    print("  " + "  ".join([f"{'untrained':>8s}", *(f"{untrained[k]:8.3f}" for k in keys)]))
    print("  " + "  ".join([f"{'trained':>8s}", *(f"{val[k]:8.3f}" for k in keys)]))


if __name__ == "__main__":
    main()
