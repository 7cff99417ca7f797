"""Checkpoints: atomic saving, resuming an interrupted training, and the trained models' files.

Both trainings (the building-block embedding, :mod:`model.embed`, and the diffusion model,
:mod:`model.train`) save a resumable checkpoint every ``checkpoint_every`` steps with
:func:`save_atomic` and start with :func:`resume`, which loads it only when it can continue it:

- made with the same config (``model_hash``) and the same data (``data_hash``);
- unfinished (fewer steps than the config asks for): a finished checkpoint belongs to a
  training whose outputs were written, so a forced rerun (``snakemake --forcerun``) trains again
  rather than reloading the final weights and training 0 steps;
- with parameters of the shapes the current code builds (a change of the network's code that
  changes shapes).

Anything else is moved aside (``checkpoint.stale.pt``, ``checkpoint.finished.pt``,
``checkpoint.incompatible.pt``) with a message, and training starts from scratch.

The diffusion model's file (``denoiser.pt``) is written by :func:`save_model` and read by
:func:`load_model` (the sampler needs only this module, not the trainer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from model.config import TrainConfig
from model.diffusion import CoarseDiffusion, Stats
from model.iga import IGADenoiser

MODEL_KIND = "mofgen-coarse-diffusion"


def save_atomic(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def shape_mismatch(module: nn.Module, saved: dict) -> str:
    """Why ``saved`` cannot be loaded into ``module`` (missing, unexpected or reshaped
    entries), or "" when it can."""
    own = module.state_dict()
    missing = sorted(set(own) - set(saved))
    extra = sorted(set(saved) - set(own))
    reshaped = [
        f"{k} {tuple(saved[k].shape)} -> {tuple(v.shape)}"
        for k, v in own.items()
        if k in saved and hasattr(saved[k], "shape") and tuple(saved[k].shape) != tuple(v.shape)
    ]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing[:3])}")
    if extra:
        parts.append(f"unexpected {', '.join(extra[:3])}")
    if reshaped:
        parts.append(f"reshaped {', '.join(reshaped[:3])}")
    return "; ".join(parts)


def resume(
    path: Path | None,
    *,
    model_hash: str,
    data_hash: str,
    total_steps: int,
    modules: dict[str, nn.Module],
    device: torch.device | str = "cpu",
    tag: str = "train",
    say: Callable[[str], None] = print,
    main: bool = True,
    sync: Callable[[], None] | None = None,
) -> dict | None:
    """Load the checkpoint at ``path`` into ``modules`` (state-dict key -> module) when it can
    be continued (see the module docstring) and return it, for the caller to restore the rest
    (optimiser, history, step, random state); otherwise move it aside and return None.

    With several processes, every one calls this (they reach the same decision from the same
    file); ``sync`` (a barrier) runs before the main process moves the file.
    """
    if path is None or not path.exists():
        return None
    state = torch.load(path, map_location=device, weights_only=False)
    why, suffix = "", ""
    if state.get("model_hash") != model_hash or state.get("data_hash") != data_hash:
        why, suffix = "was made with another config or other data", ".stale.pt"
    elif state.get("step", 0) >= total_steps:
        why, suffix = "is a finished training (a forced rerun)", ".finished.pt"
    else:
        bad = {k: shape_mismatch(m, state.get(k, {})) for k, m in modules.items()}
        bad = {k: v for k, v in bad.items() if v}
        if bad:
            k, v = next(iter(bad.items()))
            why, suffix = f"does not fit the current network code ({k}: {v})", ".incompatible.pt"
    if why:
        if sync is not None:
            sync()
        aside = path.with_suffix(suffix)
        if main:
            path.replace(aside)
            say(f"[{tag}] {path} {why}; moved to {aside}, training from scratch")
        return None
    for k, m in modules.items():
        m.load_state_dict(state[k])
    say(f"[{tag}] resuming from {path} at step {state['step']}")
    return state


def file_hash(*paths: str | Path) -> str:
    """SHA-1 (16 hex digits) of the bytes of some files."""
    h = hashlib.sha1()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# the diffusion model's file
# ----------------------------------------------------------------------------------------------


def build_diffusion(cfg: TrainConfig, stats: Stats, emb_dim: int) -> CoarseDiffusion:
    """The IGA denoiser injected into the model-agnostic diffusion."""
    net = IGADenoiser(
        emb_dim=emb_dim,
        dim=cfg.dim,
        layers=cfg.layers,
        heads=cfg.heads,
        lattice_mean=stats.y_mean,
        lattice_std=stats.y_std,
    )
    return CoarseDiffusion(
        net,
        stats,
        cfg.mu_sigma_min,
        cfg.mu_sigma_max,
        skip=cfg.skip,
        vp_time_power=cfg.vp_time_power,
    )


def embeddings_fingerprint(embeddings: pd.DataFrame) -> str:
    """Hash of the embedding table: a sampler must use the table the model was trained on."""
    h = hashlib.sha1()
    for b, v in zip(embeddings["block_id"], embeddings["vector"]):
        h.update(b.encode())
        h.update(np.asarray(v, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def save_model(
    path: str | Path,
    ema: CoarseDiffusion,
    cfg: TrainConfig,
    stats: Stats,
    emb_dim: int,
    embeddings_hash: str,
) -> None:
    """Write ``denoiser.pt``: the EMA weights with what rebuilds the network."""
    torch.save(
        {
            "model": ema.state_dict(),
            "config": asdict(cfg),
            "stats": asdict(stats),
            "emb_dim": emb_dim,
            "model_hash": cfg.model_hash(),
            "embeddings_hash": embeddings_hash,
            "kind": MODEL_KIND,
        },
        path,
    )


def load_model(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[CoarseDiffusion, TrainConfig, dict]:
    """Load ``denoiser.pt``; raises ValueError with the reason when it is not one."""
    state = torch.load(path, map_location=device, weights_only=False)
    if not isinstance(state, dict) or state.get("kind") != MODEL_KIND:
        raise ValueError(f"{path} is not a coarse-diffusion checkpoint written by model.train")
    cfg = TrainConfig.from_dict(state["config"])
    stats = Stats(**state["stats"])
    model = build_diffusion(cfg, stats, state["emb_dim"])
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ValueError(f"{path} does not match its own config (corrupt checkpoint?): {e}") from e
    return model.to(device).eval(), cfg, state
