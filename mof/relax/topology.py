"""Did the relaxation keep the bond graph? (:func:`bond_changes`)

The graph before relaxation is the CIF's bond list when it has one (assembled and bonded
structures: the bonds the assembly meant, however long) and the perceived bonds
(:func:`mof.bonds.find_bonds`) otherwise. After relaxation bonds are perceived. To keep a bond
whose length sits on the perception bound from flipping, the comparison has a margin
(``slack``, Angstrom, added to the bond tolerance of :class:`mof.bonds.BondParams`):

* a bond of the graph before is **broken** when the relaxed atoms are not bonded even with the
  tolerance widened by ``slack``;
* a bond is **formed** when the relaxed atoms are bonded with the tolerance narrowed by ``slack``
  while the pair was neither in the graph before nor bonded before with the widened tolerance.

Pairs are compared as atom pairs (periodic images not told apart). A framework piece cut off
into a molecule, or two blocks fused, shows as broken or formed bonds.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mof.bonds import BondParams, find_bonds
from mof.elements import atomic_numbers

__all__ = ["bond_changes", "bond_pairs"]


def bond_pairs(
    species: list[str], frac: np.ndarray, lattice: np.ndarray, widen: float = 0.0
) -> set[tuple[int, int]]:
    """The perceived bonds as ``{(i, j)}``, ``i < j``, with the tolerance widened by ``widen`` A
    (negative: narrowed)."""
    p = BondParams()
    p = replace(
        p,
        bond_tolerance=max(0.0, p.bond_tolerance + widen),
        metal_metal_tolerance=max(0.0, p.metal_metal_tolerance + widen),
    )
    bonds, _ = find_bonds(atomic_numbers(species), frac, lattice, p)
    return _pairs(np.stack([bonds.i, bonds.j], 1))


def _pairs(ij: np.ndarray) -> set[tuple[int, int]]:
    ij = np.sort(np.asarray(ij, dtype=np.int64).reshape(-1, 2), axis=1)
    return {(int(a), int(b)) for a, b in ij if a != b}


def bond_changes(
    species: list[str],
    frac_before: np.ndarray,
    lattice_before: np.ndarray,
    frac_after: np.ndarray,
    lattice_after: np.ndarray,
    declared: np.ndarray | None = None,
    slack: float = 0.15,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The bonds a relaxation broke and formed (sorted atom pairs), see the module docstring.

    Args:
        species: element symbols (the same atoms, in the same order, before and after).
        frac_before, lattice_before: the structure before relaxation.
        frac_after, lattice_after: after relaxation.
        declared: (B, 2) the CIF's bonds, or None to perceive the graph before.
        slack: comparison margin (A).
    """
    loose_before = bond_pairs(species, frac_before, lattice_before, slack)
    if declared is not None and len(declared):
        graph = _pairs(declared)
    else:
        graph = bond_pairs(species, frac_before, lattice_before)
    loose_after = bond_pairs(species, frac_after, lattice_after, slack)
    tight_after = bond_pairs(species, frac_after, lattice_after, -slack)
    broken = sorted(graph - loose_after)
    formed = sorted(tight_after - graph - loose_before)
    return broken, formed
