"""Novelty and uniqueness of generated MOFs, as the report states them.

Two structures are the same when they have the same building-block key (the multiset of
building-block identities, reduced by the greatest common divisor of the counts, so that a
supercell has the key of its cell) *and* pymatgen's StructureMatcher (default tolerances) matches
them. The key is the cheap identifier that avoids all-pairs matching: only structures with equal
keys are matched. A valid sample is novel when no training MOF is the same; valid-novel samples
are unique up to the first of each group of equal ones.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from functools import reduce

import numpy as np
import pandas as pd


def block_key(block_ids) -> str:
    """Multiset of building-block ids reduced by the gcd of the counts."""
    counts = Counter(block_ids)
    if not counts:
        return ""
    g = reduce(math.gcd, counts.values())
    return ";".join(f"{b}x{c // g}" for b, c in sorted(counts.items()))


def structure(lattice, species, frac):
    """A pymatgen Structure from a (3, 3) lattice, species and (N, 3) fractional coordinates."""
    from pymatgen.core import Structure

    return Structure(np.reshape(lattice, (3, 3)), list(species), np.reshape(frac, (-1, 3)))


def same(a, b) -> bool:
    """StructureMatcher with default tolerances (its warnings silenced)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(StructureMatcher().fit(a, b))


def novelty_uniqueness(
    samples: dict[str, tuple[str, object]], training: dict[str, list[object]]
) -> pd.DataFrame:
    """samples: id -> (key, Structure); training: key -> training Structures.

    Returns sample_id, key, novel, unique (unique among the novel ones), same_as.
    """
    rows = []
    kept: dict[str, list[tuple[str, object]]] = {}
    for sid, (key, s) in samples.items():
        match = next((i for i, t in enumerate(training.get(key, [])) if same(s, t)), None)
        novel = match is None
        unique, same_as = False, ""
        if novel:
            dup = next((other for other, o in kept.get(key, []) if same(s, o)), None)
            unique = dup is None
            same_as = dup or ""
            if unique:
                kept.setdefault(key, []).append((sid, s))
        else:
            same_as = "training"
        rows.append(
            {"sample_id": sid, "key": key, "novel": novel, "unique": unique, "same_as": same_as}
        )
    return pd.DataFrame(rows, columns=["sample_id", "key", "novel", "unique", "same_as"])
