"""Decoding sampled building-block embeddings to library blocks.

Each Gaussian of a sampled coarse MOF carries an embedding; decoding turns it into a block of the
library (the blocks of the training MOFs). Five rules (the last three restrict the balanced
choice):

- **nearest** (``top_k = 1``): every embedding to its nearest library vector (Euclidean);
- **balanced** (``top_k = k > 1``): each Gaussian gets one of its k nearest blocks, chosen by an
  exact dynamic programme (:func:`balanced_choice`) to minimise the summed distance subject to
  the sample having a node and a linker and as many connection points on nodes as on linkers;
- **one metal combination** (``metal_sets`` given): the node blocks of a sample may only carry
  metals of one combination seen in a training MOF (85% of CoRE MOFs have one metal element,
  14% two). The combinations are ranked by the summed distance of each Gaussian to its nearest
  allowed block (linkers and the nodes whose metals lie in the combination); the balanced
  decode runs on the ``tries`` best and the cheapest balanced one wins. Without the rule an
  imprecise sampler mixes whatever metals lie near each embedding (a median of 3 metal elements
  per sample, up to 13, measured on the default run).
- **few distinct blocks** (``max_distinct = m > 0``): the sample's Gaussians share at most m
  distinct blocks, at least one node and one linker among them. Real MOFs repeat their blocks
  (training MOFs: a median of 3 distinct blocks in 14), while a sampler whose embeddings are
  imprecise names a different neighbour for nearly every Gaussian (the default run: a median of
  11 distinct blocks in 12). Candidate sets come from pools of ``pool`` nodes and ``pool``
  linkers (the blocks most often among a Gaussian's ``pool`` nearest of their kind, counting the
  Gaussians whose nearest block is of that kind; ties by the summed distance); every set of at
  most m of them with a node and a linker gets the balanced decode (each Gaussian any block of
  the set), and the cheapest balanced one wins (:meth:`BlockDecoder.decode_few`).
- **an organic block** (``organic`` given: per block, whether it holds carbon and hydrogen):
  the sample must hold one. MOFChecker fails a structure without carbon or without hydrogen,
  and an imprecise sampler can name only inorganic blocks: 50 of 256 samples of the default
  model (four sampling runs with few distinct blocks) held no carbon and hydrogen together, and
  none of them was valid against 22% of the others. Every other rule runs with it first, and again
  without it when no choice with an organic block balances.

When no metal combination balances, the decode falls back to the balanced decode without the
metal rule; when no set of few blocks balances, to the balanced decode of every block; when no
choice balances at all, each Gaussian keeps its nearest block and the sample
is marked not compatible.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from model.index import NearestBlockIndex


def balanced_choice(
    options: list[list[tuple]],
    need_organic: bool = False,
) -> list[int] | None:
    """Choose one option per Gaussian: least total distance with balanced connection points.

    Args:
        options: per Gaussian, its candidates ``(distance, n_connections, is_node)``, or
            ``(distance, n_connections, is_node, is_organic)``.
        need_organic: at least one chosen candidate must be organic (a 4th element true).

    Returns:
        the chosen candidate index per Gaussian, or None when no choice has a node, a linker
        (and with ``need_organic`` an organic block) and as many connection points on nodes as
        on linkers.
    """
    # state: (node CPs - linker CPs, has node, has linker, has organic) -> (cost, choices)
    State = tuple[int, bool, bool, bool]
    states: dict[State, tuple[float, list[int]]] = {(0, False, False, False): (0.0, [])}
    for cands in options:
        nxt: dict[State, tuple[float, list[int]]] = {}
        for (diff, has_n, has_l, has_o), (cost, picks) in states.items():
            for ci, opt in enumerate(cands):
                dist, ncp, is_node = opt[:3]
                key = (
                    diff + (ncp if is_node else -ncp),
                    has_n or is_node,
                    has_l or not is_node,
                    has_o or (need_organic and len(opt) > 3 and bool(opt[3])),
                )
                c = cost + float(dist)
                if key not in nxt or c < nxt[key][0]:
                    nxt[key] = (c, [*picks, ci])
        states = nxt
    best = states.get((0, True, True, need_organic))
    return None if best is None else best[1]


def training_metal_sets(instances: pd.DataFrame, elements_of: dict[str, frozenset]) -> list:
    """The distinct metal combinations of the training MOFs (``instances``: ``mof_id``,
    ``block_id``, ``split``; ``elements_of``: block id -> its metals), most frequent first."""
    train = instances[instances["split"] == "train"]
    sets = (
        train.groupby("mof_id")["block_id"]
        .apply(lambda ids: frozenset().union(*(elements_of.get(b, frozenset()) for b in ids)))
        .tolist()
    )
    counts = pd.Series([tuple(sorted(s)) for s in sets if s]).value_counts()
    return [frozenset(t) for t in counts.index]


@dataclass
class Decoded:
    """One sample's decoding: chosen block ids and distances per Gaussian, how many are not
    their nearest block, whether connection points balance, and the metal combination used
    (empty when the rule is off or fell back)."""

    ids: list[str]
    distance: np.ndarray
    n_redecoded: int
    balanced: bool
    metals: frozenset


class BlockDecoder:
    """Decodes (K, d) embeddings to library blocks by the rules of the module docstring.

    Args:
        index: the library's blocks and embedding vectors (:class:`model.index.NearestBlockIndex`).
        kinds: per block of the index, ``node`` or ``linker``; ``n_connections``: per block.
        node_metals: per block, its metal elements (empty for linkers).
        top_k: candidates per Gaussian for the balanced decode (1: nearest only).
        metal_sets: allowed metal combinations (None: no metal rule).
        tries: how many of the best-ranked combinations get the balanced decode.
        max_distinct: most distinct blocks per sample (0: no limit).
        pool: nodes and linkers considered for the few distinct blocks.
        organic: per block, whether it holds carbon and hydrogen; given, a sample must hold
            such a block (None: no rule).
    """

    def __init__(
        self,
        index: NearestBlockIndex,
        kinds,
        n_connections,
        node_metals,
        top_k: int = 5,
        metal_sets: list | None = None,
        tries: int = 8,
        max_distinct: int = 0,
        pool: int = 5,
        organic=None,
    ):
        if max_distinct == 1 or max_distinct < 0:
            raise ValueError(
                "max_distinct must be 0 (no limit) or at least 2 (a node and a linker)"
            )
        self.max_distinct = int(max_distinct)
        self.pool = max(1, int(pool))
        self.index = index
        self.is_node = np.asarray([k == "node" for k in kinds])
        self.ncp = np.asarray(n_connections, dtype=int)
        self.organic = None if organic is None else np.asarray(organic, dtype=bool)
        self.top_k = max(1, int(top_k))
        self.tries = max(1, int(tries))
        self.metal_sets = None
        if metal_sets:
            # node blocks grouped by their metals; allowed[m, g]: group g fits combination m
            node_metals = [frozenset(m) for m in node_metals]
            groups = sorted({m for m, n in zip(node_metals, self.is_node) if n}, key=sorted)
            gi = {g: i for i, g in enumerate(groups)}
            self.group = np.array([gi[m] if n else -1 for m, n in zip(node_metals, self.is_node)])
            # node columns sorted by group, and where each group starts (for minimum.reduceat)
            nodes = np.flatnonzero(self.is_node)
            self.group_order = nodes[np.argsort(self.group[nodes], kind="stable")]
            self.group_start = np.searchsorted(self.group[self.group_order], np.arange(len(groups)))
            self.metal_sets = [frozenset(s) for s in metal_sets]
            self.allowed = np.array([[g <= s for g in groups] for s in self.metal_sets], dtype=bool)

    def _option(self, dist: float, c: int) -> tuple:
        """The balanced programme's candidate for library column ``c`` at distance ``dist``."""
        org = self.organic is not None and bool(self.organic[c])
        return (dist, int(self.ncp[c]), bool(self.is_node[c]), org)

    def _decode_columns(self, d: np.ndarray, cols: np.ndarray | None = None, need: bool = False):
        """Balanced decode among the library columns ``cols`` (None: all), with an organic block
        when ``need``: (picked columns (K,), balanced)."""
        sub = d if cols is None else d[:, cols]
        k = min(self.top_k, sub.shape[1])
        top = (
            np.argpartition(sub, k - 1, axis=1)[:, :k]
            if k < sub.shape[1]
            else np.tile(np.arange(sub.shape[1]), (len(sub), 1))
        )
        rows = np.arange(len(sub))[:, None]
        top = top[rows, np.argsort(sub[rows, top], axis=1, kind="stable")]  # nearest first
        if cols is not None:
            top = cols[top]
        picks = None
        if k > 1:
            picks = balanced_choice(
                [[self._option(d[g, c], c) for c in row] for g, row in enumerate(top)], need
            )
        balanced = picks is not None
        chosen = top[np.arange(len(d)), picks if balanced else 0]
        if k == 1:  # nearest only: balanced if it happens to be
            nodes = self.is_node[chosen]
            diff = self.ncp[chosen][nodes].sum() - self.ncp[chosen][~nodes].sum()
            balanced = bool(nodes.any() and (~nodes).any() and diff == 0)
            balanced = balanced and (not need or bool(self.organic[chosen].any()))
        return chosen, balanced

    def _pool(self, d: np.ndarray, cols: np.ndarray, node: bool) -> np.ndarray:
        """Up to ``pool`` columns of one kind among ``cols``: most often among the ``pool``
        nearest of that kind to the Gaussians whose nearest block (in ``cols``) is of that kind,
        ties by the summed distance to all Gaussians."""
        kind = cols[self.is_node[cols] == node]
        if len(kind) == 0:
            return kind
        q = min(self.pool, len(kind))
        voters = self.is_node[cols[d[:, cols].argmin(1)]] == node
        sub = d[voters][:, kind]
        near = np.argpartition(sub, q - 1, axis=1)[:, :q]  # (voters, q)
        votes = np.bincount(near.ravel(), minlength=len(kind))
        order = np.lexsort((d[:, kind].sum(0), -votes))
        return kind[order[: self.pool]]

    def decode_few(self, d: np.ndarray, cols: np.ndarray | None = None, need: bool = False):
        """The cheapest balanced decode using at most ``max_distinct`` distinct blocks of the
        columns ``cols`` (None: all), among sets drawn from the pools of :meth:`_pool`, with an
        organic block when ``need``: (picked columns (K,), balanced); (None, False) when no set
        balances."""
        cols = np.arange(d.shape[1]) if cols is None else np.asarray(cols)
        nodes, links = self._pool(d, cols, True), self._pool(d, cols, False)
        if need:  # each pool gains the organic block of its kind the Gaussians vote for
            organic = cols[self.organic[cols]]
            nodes, links = (
                pool
                if self.organic[pool].any()
                else np.append(pool, self._pool(d, organic, kind)[:1])
                for pool, kind in ((nodes, True), (links, False))
            )
        best, best_cost = None, np.inf
        m = self.max_distinct
        # only the largest sets: a choice that balances within a set balances within any set that
        # holds it, at the same cost
        sizes = [
            (nn, nl)
            for nn in range(1, min(m - 1, len(nodes)) + 1)
            for nl in range(1, min(m - nn, len(links)) + 1)
            if (nn == len(nodes) or nn + nl == m) and (nl == len(links) or nn + nl == m)
        ]
        for nn, nl in sizes:
            for ns in combinations(nodes, nn):
                for ls in combinations(links, nl):
                    s = np.array(ns + ls)
                    if need and not self.organic[s].any():
                        continue
                    picks = balanced_choice(
                        [[self._option(d[g, c], c) for c in s] for g in range(len(d))], need
                    )
                    if picks is None:
                        continue
                    chosen = s[picks]
                    cost = d[np.arange(len(d)), chosen].sum()
                    if cost < best_cost:
                        best, best_cost = chosen, cost
        return best, best is not None

    def _choose(self, d: np.ndarray, cols: np.ndarray | None = None):
        """The decode of the rules in force among ``cols``: (picked columns (K,), balanced).
        An organic block, when required, comes before few distinct blocks; without one that
        balances, the rules run again without it."""
        for need in (True, False) if self.organic is not None else (False,):
            if self.max_distinct:
                chosen, ok = self.decode_few(d, cols, need)
                if ok:
                    return chosen, ok
            chosen, ok = self._decode_columns(d, cols, need)
            if ok:
                return chosen, ok
        return chosen, ok

    def _ranked_metal_sets(self, d: np.ndarray) -> np.ndarray:
        """Metal combinations ordered by the summed distance of each Gaussian to its nearest
        allowed block (linkers, and nodes whose metals lie in the combination)."""
        link = d[:, ~self.is_node].min(1) if (~self.is_node).any() else np.full(len(d), np.inf)
        gmin = np.minimum.reduceat(d[:, self.group_order], self.group_start, axis=1)  # (K, G)
        per_set = np.where(self.allowed[None], gmin[:, None, :], np.inf).min(2)  # (K, S)
        relaxed = np.minimum(link[:, None], per_set).sum(0)
        return np.argsort(relaxed, kind="stable")

    def decode(self, emb: np.ndarray) -> Decoded:
        """(K, d) embeddings -> their decoding."""
        d = self.index.distances(emb)
        best = None
        if self.metal_sets is not None:
            for m in self._ranked_metal_sets(d)[: self.tries]:
                ok_group = np.isin(self.group, np.flatnonzero(self.allowed[m]))
                chosen, ok = self._choose(d, np.flatnonzero(~self.is_node | ok_group))
                cost = d[np.arange(len(d)), chosen].sum()
                if ok and (best is None or cost < best[0]):
                    best = (cost, chosen, self.metal_sets[m])
        if best is None:
            chosen, ok = self._choose(d)
            metals = frozenset()
        else:
            _, chosen, metals = best
            ok = True
        return Decoded(
            ids=[str(b) for b in self.index.ids[chosen]],
            distance=d[np.arange(len(d)), chosen],
            n_redecoded=int((chosen != d.argmin(1)).sum()),
            balanced=ok,
            metals=metals,
        )
