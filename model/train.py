"""Training of the coarse diffusion model with DistributedDataParallel.

Launched by ``torchrun`` (``python -m torch.distributed.run``): one process per GPU with NCCL,
or CPU processes with gloo. Each step draws one global batch of ``batch_size`` training MOFs from
a generator seeded by (seed, step); rank r takes its contiguous share, and every structure's time
and noise come from its own seed, so the loss and the update do not depend on how many processes
share the batch. Checkpoints (weights, EMA, optimiser, history; the learning rate follows from the
step) every ``checkpoint_every`` steps; a rerun resumes from the last one when it was made with
the same config and data, is unfinished and fits the network's code (otherwise it is moved
aside, with a message: :mod:`model.checkpoint`). Outputs: the EMA weights with their config and
normalisation statistics, the loss curve (CSV and PNG) and metrics (validation loss, throughput).

    python -m torch.distributed.run --standalone --nproc_per_node 2 -m model.train \\
        --mofs results/preprocess/mofs.parquet --embeddings results/embed/embeddings.parquet \\
        --config-json '{"steps": 100}' --model denoiser.pt --loss loss.csv --plot loss.png \\
        --metrics metrics.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from model.checkpoint import (
    build_diffusion,
    embeddings_fingerprint,
    file_hash,
    load_model,
    resume,
    save_atomic,
    save_model,
)
from model.config import TrainConfig
from model.data import CoarseMOF, compute_stats, load_coarse_mofs, make_batch
from model.diffusion import CoarseDiffusion, Stats
from model.plots import plot_curves

# the model file's helpers live in model.checkpoint; importable from here as before
__all__ = ["TrainConfig", "build_diffusion", "embeddings_fingerprint", "load_model", "save_model"]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def global_batch(
    n_train: int, cfg: TrainConfig, step: int, sizes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Indices, per-structure noise seeds and the self-conditioning coin of one global step.

    With ``sizes`` (K of every training structure) and ``cfg.bucket`` > 1, the batch is one of
    ``bucket`` slices of a pool of ``bucket * batch_size`` random structures sorted by K, chosen
    at random: every structure is still drawn with the same probability, but a batch holds
    structures of similar K, so padding to the largest K wastes little work.
    """
    rng = np.random.default_rng([cfg.seed, step])
    pool = cfg.batch_size * (cfg.bucket if sizes is not None else 1)
    idx = rng.choice(n_train, size=pool, replace=n_train < pool)
    if pool > cfg.batch_size:
        idx = idx[np.argsort(np.asarray(sizes)[idx], kind="stable")]
        part = int(rng.integers(cfg.bucket))
        idx = idx[part * cfg.batch_size : (part + 1) * cfg.batch_size]
    seeds = (cfg.seed * 1_000_003 + step * cfg.batch_size + np.arange(cfg.batch_size)) % (2**31)
    self_cond = bool(rng.random() < cfg.self_cond_prob)
    return idx, seeds, self_cond


def validation_loss(
    model: CoarseDiffusion,
    mofs: list[CoarseMOF],
    stats: Stats,
    device,
    batch_size: int = 16,
    repeats: int = 4,
) -> dict:
    """Mean denoising loss on ``mofs`` over fixed times and noise (self-conditioning on)."""
    if not mofs:
        return {}
    totals: dict[str, float] = {}
    n = 0
    model.eval()
    with torch.no_grad():
        for r in range(repeats):
            for s in range(0, len(mofs), batch_size):
                chunk = mofs[s : s + batch_size]
                batch = make_batch(chunk, stats).to(device)
                seeds = [10_000_000 + r * 100_000 + s + i for i in range(len(chunk))]
                t, noise = CoarseDiffusion.draw(batch, seeds)
                out = model.loss(batch, t, noise, self_cond=True)
                for k, v in out.items():
                    totals[k] = totals.get(k, 0.0) + float(v) * len(chunk)
                n += len(chunk)
    model.train()
    return {k: v / n for k, v in totals.items()}


def train(
    train_mofs: list[CoarseMOF],
    stats: Stats,
    cfg: TrainConfig,
    checkpoint: Path | None = None,
    say=print,
    stop_after: int | None = None,
    progress: bool = True,
    device: torch.device | None = None,
    data_hash: str = "",
) -> tuple[CoarseDiffusion, CoarseDiffusion, pd.DataFrame, dict]:
    """Train (data-parallel when a process group is initialised).

    Returns:
        (model, EMA model, loss history, timing: {"seconds", "steps"} run in this call).
    """
    rank, world = _dist_info()
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by {world} processes")
    if device is None:
        device = torch.device("cpu")
    torch.manual_seed(cfg.seed)
    emb_dim = train_mofs[0].emb.shape[1]
    model = build_diffusion(cfg, stats, emb_dim).to(device)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict] = []
    start = 0
    state = resume(
        checkpoint,
        model_hash=cfg.model_hash(),
        data_hash=data_hash,
        total_steps=cfg.steps,
        modules={"model": model, "ema": ema},
        device=device,
        tag="train",
        say=say,
        main=rank == 0,
        sync=dist.barrier if world > 1 else None,
    )
    if state is not None:
        opt.load_state_dict(state["opt"])
        history, start = state["history"], state["step"]
    wrapped = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        wrapped = DDP(model, device_ids=ids)
    share = cfg.batch_size // world
    sizes = np.array([m.k for m in train_mofs])
    model.train()
    t_steps = 0.0
    from tqdm import tqdm

    bar = tqdm(
        range(start, cfg.steps),
        desc="train: diffusion",
        unit="step",
        file=sys.stderr,
        disable=not progress or rank != 0,
        mininterval=2.0,
        initial=start,
        total=cfg.steps,
    )
    for step in bar:
        t0 = time.perf_counter()
        idx, seeds, self_cond = global_batch(len(train_mofs), cfg, step, sizes)
        mine = slice(rank * share, (rank + 1) * share)
        batch = make_batch([train_mofs[i] for i in idx[mine]], stats).to(device)
        t, noise = CoarseDiffusion.draw(batch, seeds[mine].tolist())
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        losses = wrapped(batch, t, noise, self_cond)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
        vals = torch.stack([losses[k].detach() for k in ("total", "mu", "sigma", "s", "lattice")])
        if world > 1:
            dist.all_reduce(vals)
            vals /= world
        t_steps += time.perf_counter() - t0
        v = vals.cpu().tolist()
        history.append(
            {
                "step": step + 1,
                "loss": v[0],
                "mu": v[1],
                "sigma": v[2],
                "s": v[3],
                "lattice": v[4],
                "self_cond": self_cond,
                "lr": lr_at(step, cfg),
            }
        )
        done = step + 1
        if (
            checkpoint is not None
            and rank == 0
            and (done % cfg.checkpoint_every == 0 or done == cfg.steps or done == stop_after)
        ):
            save_atomic(
                checkpoint,
                {
                    "model": model.state_dict(),
                    "ema": ema.state_dict(),
                    "opt": opt.state_dict(),
                    "history": history,
                    "step": done,
                    "model_hash": cfg.model_hash(),
                    "data_hash": data_hash,
                    "stats": asdict(stats),
                    "config": asdict(cfg),
                },
            )
        if stop_after is not None and done >= stop_after:
            break
    if world > 1:
        dist.barrier()
    model.eval()
    timing = {"seconds": t_steps, "steps": len(history) - start}
    return model, ema, pd.DataFrame(history), timing


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mofs", required=True)
    ap.add_argument("--embeddings", required=True)
    ap.add_argument("--config-json", default="{}")
    ap.add_argument("--model", required=True)
    ap.add_argument("--loss", required=True)
    ap.add_argument("--plot", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--log-file", default=None, help="progress and details go here")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads over all processes")
    ap.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--dump-rank-params", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cfg = TrainConfig.from_dict(json.loads(args.config_json))
    ckpt = Path(args.model).parent / "checkpoint.pt"
    lock = _lock_checkpoint(ckpt) if rank == 0 else None
    try:
        _main(args, cfg, ckpt, world, rank, local_rank)
    finally:
        if lock is not None:
            lock.release()


def _lock_checkpoint(ckpt: Path):
    """The lock on the checkpoint (rank 0 only): a trainer left running by a killed Snakemake
    still writes it, so a second one refuses to start instead of resuming from under it."""
    from mof.resume import LockHeld, PidLock

    lock = PidLock(ckpt.with_suffix(".lock"), f"the training checkpoint {ckpt}")
    try:
        lock.acquire()
    except LockHeld as e:
        raise SystemExit(f"[train_diffusion] refusing to train: {e}") from None
    return lock


def speed_text(mofs_per_second: float | None) -> str:
    """``12.3 MOFs/s``, or what happened when this run made no training step."""
    if not mofs_per_second:
        return "no steps run here (resumed from the final checkpoint)"
    return f"{mofs_per_second:.1f} MOFs/s"


def _main(args, cfg: TrainConfig, ckpt: Path, world: int, rank: int, local_rank: int) -> None:
    use_cuda = torch.cuda.is_available() and cfg.device != "cpu"
    if world > 1:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        device = torch.device(f"cuda:{local_rank}" if cfg.device == "auto" else cfg.device)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        if args.threads:
            torch.set_num_threads(max(1, args.threads // world))

    log = open(args.log_file, "a") if (args.log_file and rank == 0) else None
    terminal = sys.stderr

    def say(msg: str) -> None:
        if rank != 0:
            return
        print(msg, file=terminal, flush=True)
        if log:
            print(msg, file=log, flush=True)

    if log:
        sys.stderr = log
    from mof.tables import read_table

    mofs_df = read_table(args.mofs)
    emb = read_table(args.embeddings)
    coarse = load_coarse_mofs(mofs_df, emb)
    train_mofs = [m for m in coarse if m.split == "train"]
    val_mofs = [m for m in coarse if m.split == "val"]
    stats = compute_stats(train_mofs)
    model, ema, history, timing = train(
        train_mofs,
        stats,
        cfg,
        checkpoint=ckpt,
        say=say,
        stop_after=args.stop_after,
        device=device,
        data_hash=file_hash(args.mofs, args.embeddings),
    )
    if args.dump_rank_params:
        torch.save(model.state_dict(), f"{args.dump_rank_params}.rank{rank}.pt")
    if rank == 0 and (args.stop_after is None or args.stop_after >= cfg.steps):
        val = validation_loss(ema, val_mofs, stats, device)
        t_steps, n_steps_run = timing["seconds"], timing["steps"]
        metrics = {
            "val_loss": val,
            "final_train_loss": float(history["loss"].tail(50).mean()),
            "train_mofs": len(train_mofs),
            "val_mofs": len(val_mofs),
            "steps": cfg.steps,
            "processes": world,
            "device": str(device),
            "mofs_per_second": cfg.batch_size * n_steps_run / t_steps if t_steps else None,
            "seconds_in_steps": round(t_steps, 1),
        }
        save_model(
            args.model, ema, cfg, stats, train_mofs[0].emb.shape[1], embeddings_fingerprint(emb)
        )
        history.to_csv(args.loss, index=False)
        plot_curves(
            history,
            ["loss", "mu", "sigma", "s", "lattice"],
            args.plot,
            "coarse diffusion training",
            log=True,
            smooth=True,
        )
        Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n")
        vl = val.get("total", float("nan"))
        say(
            f"[train_diffusion] {len(coarse)} coarse MOFs in ({len(train_mofs)} train, "
            f"{len(val_mofs)} val) -> denoiser.pt; {cfg.steps} steps on {world} x {device}, "
            f"{speed_text(metrics['mofs_per_second'])}; validation loss {vl:.3f} "
            f"(mu {val.get('mu', float('nan')):.3f}, sigma {val.get('sigma', float('nan')):.3f}, "
            f"s {val.get('s', float('nan')):.3f}, lattice {val.get('lattice', float('nan')):.3f})"
        )
    if world > 1:
        dist.destroy_process_group()
    if log:
        log.close()


if __name__ == "__main__":
    main()
