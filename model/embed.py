"""Contrastive building-block embedding: data, training and the stage's tables.

Stage ``embed_building_blocks``: every building-block instance of the preprocessed MOFs (atoms and
connection points in their local frame) is encoded by :class:`model.encoder.BlockEncoder`;
training uses the instances of training-split MOFs with a supervised contrastive loss whose
positives share an ECFP4 fingerprint class, plus auxiliary regressions (atoms, connection points,
radius of gyration). Outputs:

- ``encoder.pt``: final weights and the config they were trained with;
- ``embeddings.parquet``: one row per distinct building block: ``block_id``, ``kind``,
  ``fingerprint`` (ECFP4 class), ``vector`` (mean embedding of its *training* instances when it
  has any), ``count``, ``n_train_instances``, ``in_library`` (occurs in a training MOF: the
  decoding library);
- ``library_blocks.parquet``: the library's rows of building_blocks.parquet, each with the
  geometry of a training instance (:func:`model.index.library_blocks`);
- ``instance_embeddings.parquet``: ``mof_id``, ``block_index``, ``block_id``, ``vector``;
- ``loss.csv`` / ``loss.png``: the loss curve; ``metrics.json``: held-out retrieval accuracy
  (instances of val/test MOFs against the library, which no held-out instance shaped).

The index (exact nearest-neighbour search) is :class:`model.index.NearestBlockIndex`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.spatial import cKDTree
from tqdm import tqdm

from model.checkpoint import file_hash, resume, save_atomic
from model.config import EmbedConfig, pick_device
from model.encoder import EmbeddingModel, supervised_contrastive_loss
from model.index import NearestBlockIndex, embedding_table, library_blocks, retrieval_accuracy
from model.plots import plot_curves
from mof.tables import column_array

__all__ = ["EmbedConfig", "NearestBlockIndex", "file_hash", "pick_device", "retrieval_accuracy"]


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------


@dataclass
class BlockGraph:
    """One building-block instance as a graph. z (n,), pos (n, 3), edges (2, e) local."""

    z: np.ndarray
    pos: np.ndarray
    edges: np.ndarray
    aux: np.ndarray  # (3,): log n_atoms, log(1 + n_cp), radius of gyration


def block_graph(
    z_atoms: np.ndarray, local: np.ndarray, cp_local: np.ndarray, cutoff: float
) -> BlockGraph:
    """Atoms plus connection points (type 0) with all pairs closer than ``cutoff`` as edges."""
    cp = np.reshape(np.asarray(cp_local, dtype=float), (-1, 3))
    atoms = np.reshape(np.asarray(local, dtype=float), (-1, 3))
    if len(atoms) != len(z_atoms):
        raise ValueError(f"{len(z_atoms)} atom types but {len(atoms)} positions")
    z = np.concatenate([np.asarray(z_atoms, dtype=np.int64), np.zeros(len(cp), np.int64)])
    pos = np.vstack([atoms, cp])
    if len(pos) > 1:
        pairs = cKDTree(pos).query_pairs(cutoff, output_type="ndarray")
    else:
        pairs = np.zeros((0, 2), dtype=np.int64)
    edges = np.concatenate([pairs, pairs[:, ::-1]]).T.astype(np.int64)
    rg = float(np.sqrt(np.mean(np.sum((pos - pos.mean(0)) ** 2, axis=1))))
    aux = np.array([np.log(len(z_atoms)), np.log1p(len(cp)), rg])
    return BlockGraph(z, pos, edges, aux)


def collate(
    graphs: list[BlockGraph],
    device: torch.device,
    jitter: float = 0.0,
    rng: np.random.Generator | None = None,
):
    """Concatenate graphs into one batch: (z, pos, edge_index, batch, n_graphs, aux)."""
    offsets = np.cumsum([0] + [len(g.z) for g in graphs[:-1]])
    z = np.concatenate([g.z for g in graphs])
    pos = np.vstack([g.pos for g in graphs])
    if jitter > 0 and rng is not None:
        pos = pos + rng.normal(scale=jitter, size=pos.shape)
    edges = np.concatenate([g.edges + o for g, o in zip(graphs, offsets)], axis=1)
    batch = np.repeat(np.arange(len(graphs)), [len(g.z) for g in graphs])
    aux = np.stack([g.aux for g in graphs])
    t = torch.as_tensor
    return (
        t(z, device=device),
        t(pos, dtype=torch.float32, device=device),
        t(edges, device=device),
        t(batch, device=device),
        len(graphs),
        t(aux, dtype=torch.float32, device=device),
    )


def instance_graphs(instances: pd.DataFrame, cutoff: float) -> list[BlockGraph]:
    from mof.elements import atomic_numbers

    return [
        block_graph(atomic_numbers(r.elements), r.local_coords, r.cp_local, cutoff)
        for r in instances.itertuples()
    ]


def fingerprint_classes(instances: pd.DataFrame) -> pd.Series:
    """ECFP4 class per distinct block_id (computed once per graph identity)."""
    from mof.elements import atomic_numbers
    from mof.identity import ecfp4_class

    first = instances.groupby("block_id", sort=True).head(1)
    out = {}
    for r in first.itertuples():
        bonds = column_array(r, "bonds").tolist()
        out[r.block_id] = ecfp4_class(atomic_numbers(r.elements), bonds, list(r.cp_atom))
    return pd.Series(out, name="fingerprint")


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------


def _batches(labels: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of one batch: pairs of same-class instances first, then random fill."""
    classes, inverse = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
    multi = [m for m in members if len(m) >= 2]
    chosen: list[int] = []
    if multi:
        order = rng.permutation(len(multi))[: batch_size // 2]
        for k in order:
            chosen.extend(rng.choice(multi[k], size=2, replace=False).tolist())
    rest = batch_size - len(chosen)
    if rest > 0:
        chosen.extend(rng.choice(len(labels), size=min(rest, len(labels)), replace=False).tolist())
    return np.asarray(chosen[:batch_size])


def train_embedding(
    graphs: list[BlockGraph],
    labels: np.ndarray,
    cfg: EmbedConfig,
    checkpoint: Path | None = None,
    say=print,
    stop_after: int | None = None,
    progress: bool = True,
    data_hash: str = "",
) -> tuple[EmbeddingModel, pd.DataFrame]:
    """Train the embedding model; resumes from ``checkpoint`` when
    :func:`model.checkpoint.resume` can continue it.

    Args:
        graphs, labels: training instances and their fingerprint-class labels (ints).
        stop_after: stop (after checkpointing) at this step, to emulate an interruption.
        data_hash: identity of the training data; a checkpoint resumes only with the same
            config and the same data (and only when unfinished and of the same shapes).
    Returns:
        (model in eval mode, loss history with step/loss/contrastive/aux columns).
    """
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = EmbeddingModel(cfg.dim, cfg.hidden, cfg.layers, cfg.cutoff).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(cfg.steps, 1), pct_start=0.1
    )
    history: list[dict] = []
    start = 0
    rng = np.random.default_rng(cfg.seed)
    aux_mean = np.mean([g.aux for g in graphs], axis=0)
    aux_std = np.std([g.aux for g in graphs], axis=0) + 1e-6
    state = resume(
        checkpoint,
        model_hash=cfg.model_hash(),
        data_hash=data_hash,
        total_steps=cfg.steps,
        modules={"model": model},
        device=device,
        tag="embed",
        say=say,
    )
    if state is not None:
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        history, start = state["history"], state["step"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
    model.train()
    a_mean = torch.tensor(aux_mean, dtype=torch.float32, device=device)
    a_std = torch.tensor(aux_std, dtype=torch.float32, device=device)
    lab_t = torch.as_tensor(labels, device=device)
    bar = tqdm(
        range(start, cfg.steps),
        desc="embed: training",
        unit="step",
        file=sys.stderr,
        disable=not progress,
        mininterval=2.0,
        initial=start,
        total=cfg.steps,
    )
    for step in bar:
        idx = _batches(labels, cfg.batch_size, rng)
        z, pos, ei, batch, n, aux = collate([graphs[i] for i in idx], device, cfg.jitter, rng)
        b, proj, aux_pred = model(z, pos, ei, batch, n)
        l_con = supervised_contrastive_loss(proj, lab_t[idx], cfg.temperature)
        l_aux = torch.mean((aux_pred - (aux - a_mean) / a_std) ** 2)
        loss = l_con + cfg.aux_weight * l_aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        history.append(
            {
                "step": step + 1,
                "loss": loss.item(),
                "contrastive": l_con.item(),
                "aux": l_aux.item(),
            }
        )
        done = step + 1
        if checkpoint is not None and (
            done % cfg.checkpoint_every == 0 or done == cfg.steps or done == stop_after
        ):
            save_atomic(
                checkpoint,
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "history": history,
                    "step": done,
                    "model_hash": cfg.model_hash(),
                    "data_hash": data_hash,
                    "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                },
            )
        if stop_after is not None and done >= stop_after:
            break
    model.eval()
    return model, pd.DataFrame(history, columns=["step", "loss", "contrastive", "aux"])


@torch.no_grad()
def encode(
    model: EmbeddingModel,
    graphs: list[BlockGraph],
    batch_size: int = 512,
    device: torch.device | None = None,
) -> np.ndarray:
    """(len(graphs), dim) embeddings b (no jitter)."""
    device = device or next(model.parameters()).device
    out = []
    for s in range(0, len(graphs), batch_size):
        z, pos, ei, batch, n, _ = collate(graphs[s : s + batch_size], device)
        out.append(model.encoder(z, pos, ei, batch, n).cpu().numpy())
    if not out:
        return np.zeros((0, model.encoder.readout[-1].out_features), dtype=np.float32)
    return np.concatenate(out)


# ----------------------------------------------------------------------------------------------
# the stage
# ----------------------------------------------------------------------------------------------


STAGE_OUTPUTS = {
    "encoder": "encoder.pt",
    "embeddings": "embeddings.parquet",
    "instances": "instance_embeddings.parquet",
    "loss": "loss.csv",
    "plot": "loss.png",
    "metrics": "metrics.json",
    "library": "library_blocks.parquet",
}


def output_paths(folder: str | Path) -> dict[str, str]:
    """The stage's output paths inside ``folder`` (names as in rules/embed.smk)."""
    return {k: str(Path(folder) / v) for k, v in STAGE_OUTPUTS.items()}


def run(inputs: dict, outputs: dict, cfg: dict, *, threads: int = 1, say=print) -> dict:
    """The embed_building_blocks stage. ``inputs``: ``instances`` (block_instances.parquet) and,
    optionally, ``blocks`` (building_blocks.parquet); ``outputs`` maps encoder, embeddings,
    instances, loss, plot and metrics to paths, and ``library`` (with ``inputs["blocks"]``) to
    the decoding library's blocks with training geometries. Returns the metrics."""
    from mof.tables import read_table, write_table

    t0 = time.perf_counter()
    torch.set_num_threads(max(1, threads))
    instances_path = inputs["instances"]
    cfg = EmbedConfig.from_dict(cfg)
    inst = read_table(instances_path)
    if inst.empty:
        raise ValueError(f"{instances_path} has no building blocks: nothing to embed")
    fps = fingerprint_classes(inst)
    inst["fingerprint"] = fps.reindex(inst["block_id"]).to_numpy()
    graphs = instance_graphs(inst, cfg.cutoff)
    train_mask = (inst["split"] == "train").to_numpy()
    if not train_mask.any():
        raise ValueError("no building block from a training-split MOF: nothing to train on")
    _, labels = np.unique(inst["fingerprint"].to_numpy(), return_inverse=True)
    train_idx = np.flatnonzero(train_mask)
    out_dir = Path(outputs["encoder"]).parent
    model, history = train_embedding(
        [graphs[i] for i in train_idx],
        labels[train_idx],
        cfg,
        checkpoint=out_dir / "checkpoint.pt",
        say=say,
        data_hash=file_hash(instances_path),
    )
    vectors = encode(model, graphs)
    t_train = time.perf_counter() - t0

    inst_emb = pd.DataFrame(
        {
            "mof_id": inst["mof_id"],
            "block_index": inst["block_index"],
            "block_id": inst["block_id"],
            "vector": list(vectors.astype(np.float32)),
        }
    )
    table = embedding_table(inst, vectors)

    # held-out retrieval: instances of val/test MOFs against the training library
    index = NearestBlockIndex.from_table(table)
    fp_of = dict(zip(table["block_id"], table["fingerprint"]))
    held = np.flatnonzero(~train_mask)
    acc, n_eval = retrieval_accuracy(
        index, fp_of, vectors[held], inst["fingerprint"].iloc[held].tolist()
    )
    metrics = {
        "heldout_top1_fingerprint_accuracy": acc,
        "heldout_instances_evaluated": n_eval,
        "heldout_instances_total": int(len(held)),
        "library_size": int(table["in_library"].sum()),
        "fingerprint_classes": int(table["fingerprint"].nunique()),
        "train_instances": int(len(train_idx)),
        "final_loss": float(history["loss"].tail(20).mean()) if len(history) else float("nan"),
        "seconds": round(t_train, 1),
        "device": str(pick_device(cfg.device)),
    }
    torch.save(
        {"model": model.state_dict(), "config": asdict(cfg), "model_hash": cfg.model_hash()},
        outputs["encoder"],
    )
    write_table(table, outputs["embeddings"])
    write_table(inst_emb, outputs["instances"])
    if inputs.get("blocks") and outputs.get("library"):
        write_table(library_blocks(read_table(inputs["blocks"]), inst), outputs["library"])
    history.to_csv(outputs["loss"], index=False)
    plot_curves(
        history, ["loss", "contrastive", "aux"], outputs["plot"], "building-block embedding"
    )
    Path(outputs["metrics"]).write_text(json.dumps(metrics, indent=2) + "\n")
    say(
        f"[embed_building_blocks] {len(inst)} instances of {len(table)} building blocks in -> "
        f"{len(table)} embeddings (d={cfg.dim}), library {metrics['library_size']}; held-out "
        f"top-1 fingerprint accuracy {acc:.3f} on {n_eval} of {len(held)} instances; "
        f"{cfg.steps} steps in {t_train:.0f} s on {metrics['device']}"
    )
    return metrics


def load_encoder(path: str | Path, device: str = "cpu") -> tuple[EmbeddingModel, EmbedConfig]:
    """Load ``encoder.pt``."""
    state = torch.load(path, map_location=device, weights_only=False)
    cfg = EmbedConfig.from_dict(state["config"])
    model = EmbeddingModel(cfg.dim, cfg.hidden, cfg.layers, cfg.cutoff)
    model.load_state_dict(state["model"])
    return model.eval(), cfg
