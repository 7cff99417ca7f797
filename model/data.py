"""Coarse MOFs for the diffusion model: read the preprocess and embedding tables, put every cell
in the canonical orientation (a along x, b in the xy plane), standardise, pad into batches."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from model.diffusion import CoarseBatch, Stats, lattice_to_y_raw
from mof.periodic import lattice_from_parameters, lattice_parameters
from mof.tables import column_array


@dataclass
class CoarseMOF:
    """One MOF as Gaussians. mu (K, 3) fractional; sigma (K, 3, 3) Cartesian in the canonical
    orientation; emb (K, d); params (6,) lattice lengths and angles; block_ids (K,)."""

    id: str
    split: str
    mu: np.ndarray
    sigma: np.ndarray
    emb: np.ndarray
    params: np.ndarray
    block_ids: list[str]

    @property
    def k(self) -> int:
        return len(self.mu)


def canonical_rotation(lattice: np.ndarray) -> np.ndarray:
    """Rotation R with lattice @ R.T == the canonical lattice of the same parameters."""
    can = lattice_from_parameters(*lattice_parameters(lattice))
    r = (np.linalg.solve(lattice, can)).T
    u, _, vt = np.linalg.svd(r)  # project to the nearest orthogonal matrix
    return u @ vt


def load_coarse_mofs(mofs, embeddings) -> list[CoarseMOF]:
    """Coarse MOFs from ``mofs.parquet`` and ``embeddings.parquet`` (DataFrames)."""
    vec = dict(zip(embeddings["block_id"], embeddings["vector"]))
    out = []
    for r in mofs.itertuples():
        lat = column_array(r, "lattice")
        rot = canonical_rotation(lat)
        sig = column_array(r, "sigmas")
        sig = np.einsum("xa,kab,yb->kxy", rot, sig, rot)
        missing = [b for b in r.block_ids if b not in vec]
        if missing:
            raise KeyError(f"{r.id}: building blocks without an embedding: {missing[:3]}")
        out.append(
            CoarseMOF(
                id=r.id,
                split=r.split,
                mu=column_array(r, "centres_frac"),
                sigma=sig,
                emb=np.stack([np.asarray(vec[b], dtype=np.float32) for b in r.block_ids]),
                params=lattice_parameters(lat),
                block_ids=list(r.block_ids),
            )
        )
    return out


def compute_stats(mofs: list[CoarseMOF]) -> Stats:
    """Standardisation statistics and the K distribution of a (training) set."""
    if not mofs:
        raise ValueError("no training structure: cannot compute normalisation statistics")
    emb = np.concatenate([m.emb for m in mofs])
    y = lattice_to_y_raw(np.stack([m.params for m in mofs]))
    logeig = np.log(np.concatenate([np.linalg.eigvalsh(m.sigma).reshape(-1) for m in mofs]))
    kc = Counter(m.k for m in mofs)
    ks = sorted(kc)
    return Stats(
        s_mean=emb.mean(0).tolist(),
        s_std=(emb.std(0) + 1e-6).tolist(),
        y_mean=y.mean(0).tolist(),
        y_std=(y.std(0) + 1e-3).tolist(),
        logsig_mean=float(logeig.mean()),
        logsig_std=float(logeig.std() + 1e-6),
        k_values=ks,
        k_probs=[kc[k] / len(mofs) for k in ks],
    )


def make_batch(mofs: list[CoarseMOF], stats: Stats, dtype=torch.float32) -> CoarseBatch:
    """Pad a list of coarse MOFs into a standardised :class:`CoarseBatch`."""
    b, k = len(mofs), max(m.k for m in mofs)
    d = mofs[0].emb.shape[1]
    mu = np.zeros((b, k, 3))
    sigma = np.tile(np.eye(3), (b, k, 1, 1))
    s = np.zeros((b, k, d))
    mask = np.zeros((b, k), dtype=bool)
    for i, m in enumerate(mofs):
        mu[i, : m.k] = m.mu
        sigma[i, : m.k] = m.sigma
        s[i, : m.k] = (m.emb - np.asarray(stats.s_mean)) / np.asarray(stats.s_std)
        mask[i, : m.k] = True
    y = (
        lattice_to_y_raw(np.stack([m.params for m in mofs])) - np.asarray(stats.y_mean)
    ) / np.asarray(stats.y_std)
    t = lambda a: torch.as_tensor(a, dtype=dtype)  # noqa: E731
    return CoarseBatch(t(mu), t(sigma), t(s), t(y), torch.as_tensor(mask))
