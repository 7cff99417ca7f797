"""MOFChecker's coordination rules for carbon and nitrogen, applied to one library block.

Some CoRE MOF 2019-ASR entries lack hydrogens, and their blocks carry the defect into every
sample decoded to them: MOFChecker flags the assembled structure with ``no_undercoordinated_c``
or ``no_undercoordinated_n`` wherever such a block sits. A block's cut bonds (its connection
points) count as neighbours, since assembly bonds them to another block. Flagged:

- a carbon with at most one neighbour, or with two whose bond directions are more than
  ``linear_tolerance`` (10 degrees) from linear (an sp carbon is linear; a bent two-coordinate
  carbon lacks a hydrogen);
- a nitrogen with one neighbour that is a carbon with more than two neighbours (an amine without
  its hydrogens; a nitrile's N, bonded to a two-coordinate C, is not flagged).
"""

from __future__ import annotations

import numpy as np


def undercoordinated_atoms(
    elements,
    coords: np.ndarray,
    bonds: np.ndarray,
    cp_atom,
    cp_coords: np.ndarray,
    linear_tolerance: float = 10.0,
) -> list[int]:
    """Indices of the block's atoms that the rules of the module docstring flag.

    Args:
        elements: (n,) element symbols.
        coords: (n, 3) atom positions, Angstrom.
        bonds: (b, 2) atom index pairs within the block (or the flat 2b list).
        cp_atom: (m,) the atom of each connection point (each a cut bond).
        cp_coords: (m, 3) the connection points' positions (the far end of each cut bond).
        linear_tolerance: degrees from 180 within which a two-coordinate carbon counts as
            linear.
    """
    coords = np.asarray(coords, dtype=float).reshape(-1, 3)
    cp_coords = np.asarray(cp_coords, dtype=float).reshape(-1, 3)
    n = len(elements)
    ends: list[list[np.ndarray]] = [[] for _ in range(n)]  # far ends of each atom's bonds
    partners: list[list[int]] = [[] for _ in range(n)]  # in-block neighbours (-1: a cut bond)
    for i, j in np.asarray(bonds, dtype=int).reshape(-1, 2):
        ends[i].append(coords[j])
        ends[j].append(coords[i])
        partners[i].append(int(j))
        partners[j].append(int(i))
    for a, p in zip(np.asarray(cp_atom, dtype=int).ravel(), cp_coords):
        ends[a].append(p)
        partners[a].append(-1)
    flagged = []
    for i, el in enumerate(elements):
        deg = len(ends[i])
        if el == "C":
            if deg <= 1:
                flagged.append(i)
            elif deg == 2:
                u, v = (e - coords[i] for e in ends[i])
                cos = np.dot(u, v) / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12)
                angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
                if angle < 180.0 - linear_tolerance:
                    flagged.append(i)
        elif el == "N" and deg == 1:
            j = partners[i][0]
            if j >= 0 and elements[j] == "C" and len(ends[j]) > 2:
                flagged.append(i)
    return flagged


def flagged_blocks(blocks) -> set[str]:
    """Ids of the blocks (a table with ``block_id``, ``elements``, ``local_coords``, ``bonds``,
    ``cp_atom``, ``cp_local``) with at least one atom :func:`undercoordinated_atoms` flags."""
    out = set()
    for r in blocks.itertuples():
        if undercoordinated_atoms(r.elements, r.local_coords, r.bonds, r.cp_atom, r.cp_local):
            out.add(r.block_id)
    return out
