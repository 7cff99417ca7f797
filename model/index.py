"""Nearest-neighbour search among the library's building-block embeddings.

Exact Euclidean search in b-space (a matrix product; libraries here are a few thousand vectors):
the sampler decodes each sampled embedding with it, and the embedding stage measures held-out
retrieval with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mof.tables import GEOMETRY_COLUMNS, from_cell


class NearestBlockIndex:
    """Exact nearest-neighbour search of embedding vectors among library building blocks."""

    def __init__(self, ids: list[str], vectors: np.ndarray):
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        self.ids = np.asarray(ids)
        self.vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float32))

    @classmethod
    def from_table(cls, embeddings: pd.DataFrame, library_only: bool = True) -> NearestBlockIndex:
        """The index of an embedding table (``block_id``, ``vector``; by default only the rows
        ``in_library``)."""
        df = embeddings[embeddings["in_library"]] if library_only else embeddings
        return cls(df["block_id"].tolist(), np.stack(df["vector"].to_numpy()))

    def _distances(self, queries: np.ndarray) -> torch.Tensor:
        q = torch.as_tensor(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        return torch.cdist(q, self.vectors)

    def distances(self, queries: np.ndarray) -> np.ndarray:
        """(Q, d) vectors -> (Q, N) Euclidean distances to every indexed block (float64)."""
        return self._distances(queries).numpy().astype(np.float64)

    def query(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(Q, d) vectors -> (Q, k) block ids and (Q, k) Euclidean distances, nearest first."""
        d = self._distances(queries)
        k = min(k, len(self.ids))
        dist, idx = torch.topk(d, k, dim=1, largest=False)
        return self.ids[idx.numpy()], dist.numpy()


def retrieval_accuracy(
    index: NearestBlockIndex,
    fingerprint_of: dict[str, str],
    queries: np.ndarray,
    query_fps: list[str],
) -> tuple[float, int]:
    """Top-1 accuracy of fingerprint class for queries whose class exists in the library."""
    lib_fps = {fingerprint_of[i] for i in index.ids}
    keep = [k for k, f in enumerate(query_fps) if f in lib_fps]
    if not keep:
        return float("nan"), 0
    ids, _ = index.query(queries[keep])
    hits = [fingerprint_of[ids[j, 0]] == query_fps[k] for j, k in enumerate(keep)]
    return float(np.mean(hits)), len(keep)


# ----------------------------------------------------------------------------------------------
# the library: built from training MOFs only
# ----------------------------------------------------------------------------------------------


def embedding_table(instances: pd.DataFrame, vectors: np.ndarray) -> pd.DataFrame:
    """One row per distinct building block of ``instances`` (with their ``fingerprint``) and
    their embeddings ``vectors`` (one row each): ``block_id``, ``kind``, ``fingerprint``,
    ``smiles``, ``vector``, ``count``, ``n_train_instances``, ``in_library``.

    A library block (one that occurs in a training MOF) has as ``vector`` the mean over its
    training instances only, so that held-out instances never shape the vectors they are
    retrieved against; a block seen only in val/test MOFs (never decoded to) has the mean over
    all its instances.
    """
    train = (instances["split"] == "train").to_numpy()
    g = instances.assign(row=np.arange(len(instances))).groupby("block_id", sort=True)

    def mean_vector(rows: list[int]) -> np.ndarray:
        own = [r for r in rows if train[r]] or rows
        return vectors[own].mean(0).astype(np.float32)

    table = pd.DataFrame(
        {
            "block_id": list(g.groups.keys()),
            "kind": g["kind"].first().to_numpy(),
            "fingerprint": g["fingerprint"].first().to_numpy(),
            "smiles": g["smiles"].first().to_numpy(),
            "vector": [mean_vector(rows) for rows in g["row"].apply(list)],
            "count": g.size().to_numpy(),
            "n_train_instances": g["split"].apply(lambda s: int((s == "train").sum())).to_numpy(),
        }
    )
    table["in_library"] = table["n_train_instances"] > 0
    return table


def library_blocks(building_blocks: pd.DataFrame, instances: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``building_blocks.parquet`` that the decoder may choose (blocks with a
    training instance), each with the geometry of its first training instance (preprocess's
    representative is the first instance of any split, possibly from a val/test MOF):
    ``example_mof``, the columns of :data:`GEOMETRY_COLUMNS` and ``radius_of_gyration``."""
    train = instances[instances["split"] == "train"]
    first = train.groupby("block_id", sort=False).head(1).set_index("block_id")
    lib = building_blocks[building_blocks["block_id"].isin(first.index)].copy()
    rep = first.loc[lib["block_id"]]
    lib["example_mof"] = rep["mof_id"].to_numpy()
    for c in GEOMETRY_COLUMNS:
        if c in lib.columns and c in rep.columns:
            lib[c] = rep[c].to_numpy()
    if "radius_of_gyration" in lib.columns and "sigma" in rep.columns:
        lib["radius_of_gyration"] = [
            float(np.sqrt(np.trace(from_cell(s, (3, 3))))) for s in rep["sigma"]
        ]
    return lib.reset_index(drop=True)
