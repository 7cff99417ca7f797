"""What a structure is made of: distinct building blocks and metal elements per structure, for
samples against training MOFs (the generation benchmark and the report print both).

Real MOFs repeat a few blocks (CoRE MOF 2019-ASR training MOFs: a median of 3 distinct blocks in
14) and carry one metal element (85%); a sampler whose embeddings land between library blocks
names a different block for nearly every Gaussian, which no assembly turns into a MOF.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mof.elements import atomic_numbers, is_metal


def metals_of(elements) -> frozenset[str]:
    """The metal elements among a block's element symbols."""
    els = sorted(set(elements))
    if not els:
        return frozenset()
    z = atomic_numbers(els)
    return frozenset(e for e, m in zip(els, is_metal(z)) if m)


def distinct_blocks(block_lists: Iterable) -> np.ndarray:
    """Per structure (a list of block ids), how many distinct blocks it holds."""
    return np.array([len(set(ids)) for ids in block_lists], dtype=int)


def metal_counts(block_lists: Iterable, metals: dict[str, frozenset]) -> dict[str, float]:
    """Share of structures with 0 (no node), 1, 2 and 3 or more metal elements on their blocks;
    ``metals``: block id -> its metal elements (:func:`metals_of`)."""
    counts = [
        len(frozenset().union(*(metals.get(b, frozenset()) for b in ids))) for ids in block_lists
    ]
    n = max(1, len(counts))
    return {
        "0": sum(c == 0 for c in counts) / n,
        "1": sum(c == 1 for c in counts) / n,
        "2": sum(c == 2 for c in counts) / n,
        "3+": sum(c >= 3 for c in counts) / n,
    }


def composition_text(samples: list, training: list) -> str:
    """The report's sentence on distinct blocks per structure, samples against training MOFs
    (each a list of block-id lists)."""
    if not len(samples):
        return "No samples."

    def part(lists) -> str:
        d = distinct_blocks(lists)
        k = np.array([len(ids) for ids in lists])
        return (
            f"median {np.median(d):g} (p90 {np.percentile(d, 90):g}) in a median {np.median(k):g}"
        )

    text = f"Distinct building blocks per sample: {part(samples)} blocks"
    if len(training):
        text += f"; per training MOF: {part(training)}"
    return text + "."
