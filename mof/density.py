"""The atom density of a structure (atoms per 1000 A^3) and the cell scale that brings it into
the range of the training MOFs.

A sampled coarse MOF gets its lattice from the network and its blocks from the decode, which
picks library blocks some distance from the sampled embeddings: the cell was drawn for blocks
other than the ones that are put into it. CoRE MOF 2019-ASR training MOFs hold 30-83 atoms per
1000 A^3 (5th-95th percentile, median 58); a sample whose decoded blocks fill its cell far more
densely than any of them leaves its blocks overlapping, and its relaxation folds atoms onto each
other. :func:`scale_to_density` scales such a cell isotropically (fractional centres and cell
shape kept) to the nearest bound of the training range.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mof.periodic import cell_volume


def atom_density(n_atoms: int, lattice: np.ndarray) -> float:
    """Atoms per 1000 A^3 of a cell (``lattice``: (3, 3) row vectors, Angstrom)."""
    return 1000.0 * float(n_atoms) / cell_volume(np.asarray(lattice, dtype=float))


def density_bounds(
    n_atoms: Iterable[int], lattices: Iterable, quantiles: tuple[float, float]
) -> tuple[float, float]:
    """The ``quantiles`` (lower, upper; each in [0, 1]) of the atom density of structures with
    ``n_atoms`` atoms in cells ``lattices`` (each 9 floats or (3, 3))."""
    lo, hi = quantiles
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(
            f"density quantiles must satisfy 0 <= lower <= upper <= 1, got {quantiles}"
        )
    d = np.array([atom_density(n, np.reshape(lat, (3, 3))) for n, lat in zip(n_atoms, lattices)])
    if len(d) == 0:
        raise ValueError("no structures to take the density bounds from")
    return float(np.quantile(d, lo)), float(np.quantile(d, hi))


def scale_to_density(
    lattice: np.ndarray, n_atoms: int, lo: float, hi: float
) -> tuple[np.ndarray, float]:
    """The cell scaled isotropically so that ``n_atoms`` in it have an atom density within
    [``lo``, ``hi``] (atoms per 1000 A^3), and the length scale applied (1.0: it already was).

    Args:
        lattice: (3, 3) row vectors, Angstrom.
        n_atoms: atoms the cell will hold.
        lo, hi: the density bounds, ``0 < lo <= hi``.

    Returns:
        ((3, 3) lattice, scale): a denser cell is enlarged to ``hi``, a sparser one shrunk to
        ``lo``; fractional coordinates in it keep their meaning.
    """
    if not 0.0 < lo <= hi:
        raise ValueError(f"density bounds must satisfy 0 < lower <= upper, got {lo}, {hi}")
    lattice = np.asarray(lattice, dtype=float)
    d = atom_density(n_atoms, lattice)
    target = min(max(d, lo), hi)
    scale = float((d / target) ** (1.0 / 3.0))
    return lattice * scale, scale
