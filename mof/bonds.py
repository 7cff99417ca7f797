"""Periodic bond perception from covalent radii.

A bond i-j (to the image of j shifted by an integer lattice vector n) exists when
``min_distance <= d <= r_i + r_j + tolerance``; then three prunings remove the usual artefacts of
radius-based bonding in MOFs:

1. metal-metal bonds need ``d <= r_i + r_j + metal_metal_tolerance`` (keeps Cu2 paddlewheels);
2. each hydrogen keeps only its shortest bond;
3. bonds are accepted shortest first, and a bond that makes an angle below ``min_angle`` with an
   already accepted bond at either end is dropped (removes metal-C contacts of chelating
   carboxylates and similar through-ring contacts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from mof.elements import HYDROGEN, covalent_radii, is_metal


@dataclass(frozen=True)
class BondParams:
    """Bond perception; field names are the ``preprocess`` config keys (defaults: its schema)."""

    bond_tolerance: float = 0.45
    min_bond_distance: float = 0.4
    metal_metal_tolerance: float = 0.25
    min_bond_angle: float = 45.0


@dataclass
class Bonds:
    """Undirected periodic bonds: atom ``i`` to the image ``j + shift`` (one row per bond).

    Attributes:
        i, j: (B,) atom indices.
        shift: (B, 3) integer lattice shift of atom j.
        length: (B,) bond length in Angstrom.
    """

    i: np.ndarray
    j: np.ndarray
    shift: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return len(self.i)

    def degree(self, n_atoms: int) -> np.ndarray:
        """(n_atoms,) number of bonds at each atom."""
        return np.bincount(np.concatenate([self.i, self.j]), minlength=n_atoms)


def neighbour_pairs(
    frac: np.ndarray, lattice: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All periodic pairs closer than ``cutoff``, each unordered pair once.

    Args:
        frac: (N, 3) fractional coordinates (any range).
        lattice: (3, 3) row-vector lattice.
        cutoff: distance cutoff in Angstrom.
    Returns:
        i (P,), j (P,), shift (P, 3) int, d (P,): atom i to the image of atom j at
        ``frac[j] + shift``, with i < j, or i == j and a lexicographically positive shift.
    """
    frac = np.mod(np.asarray(frac, dtype=float), 1.0)
    n = len(frac)
    recip = np.linalg.inv(lattice).T  # rows: reciprocal vectors (without 2 pi)
    spacing = 1.0 / np.linalg.norm(recip, axis=1)  # interplanar distances
    reach = np.ceil(cutoff / spacing).astype(int)
    rng = [np.arange(-r, r + 1) for r in reach]
    shifts = np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)
    cart = frac @ lattice
    img = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3) @ lattice  # (S*N, 3)
    tree_img = cKDTree(img)
    tree = cKDTree(cart)
    sdm = tree.sparse_distance_matrix(tree_img, cutoff, output_type="ndarray")
    i = sdm["i"].astype(np.int64)
    k = sdm["j"].astype(np.int64)
    d = sdm["v"]
    j = k % n
    sh = shifts[k // n]
    zero = ~np.any(sh != 0, axis=1)
    # lexicographic sign of the shift
    first_nz = np.where(sh[:, 0] != 0, sh[:, 0], np.where(sh[:, 1] != 0, sh[:, 1], sh[:, 2]))
    keep = (i < j) | ((i == j) & ~zero & (first_nz > 0))
    return i[keep], j[keep], sh[keep], d[keep]


def find_bonds(
    z: np.ndarray, frac: np.ndarray, lattice: np.ndarray, params: BondParams | None = None
) -> tuple[Bonds, dict[str, int]]:
    """Perceive bonds; also count geometric anomalies.

    Args:
        z: (N,) atomic numbers.
        frac: (N, 3) fractional coordinates.
        lattice: (3, 3) row-vector lattice.
    Returns:
        (bonds, anomalies) where anomalies counts ``close_contacts`` (pairs closer than 0.7 A).
    """
    p = params or BondParams()
    z = np.asarray(z)
    radii = covalent_radii(z)
    cutoff = 2 * float(np.max(radii)) + p.bond_tolerance
    i, j, sh, d = neighbour_pairs(frac, lattice, cutoff)
    anomalies = {"close_contacts": int(np.sum(d < 0.7))}
    rsum = radii[i] + radii[j]
    metal = is_metal(z)
    mm = metal[i] & metal[j]
    ok = (d >= p.min_bond_distance) & (d <= rsum + p.bond_tolerance)
    ok &= ~mm | (d <= rsum + p.metal_metal_tolerance)
    i, j, sh, d = i[ok], j[ok], sh[ok], d[ok]

    # each hydrogen keeps only its shortest bond
    order = np.argsort(d, kind="stable")
    i, j, sh, d = i[order], j[order], sh[order], d[order]
    keep = np.ones(len(i), dtype=bool)
    h_used = np.zeros(len(z), dtype=bool)
    is_h = z == HYDROGEN
    for b in range(len(i)):
        a, c = i[b], j[b]
        if (is_h[a] and h_used[a]) or (is_h[c] and h_used[c]):
            keep[b] = False
            continue
        if is_h[a]:
            h_used[a] = True
        if is_h[c]:
            h_used[c] = True
    i, j, sh, d = i[keep], j[keep], sh[keep], d[keep]

    # angle pruning, shortest bonds first
    cart = np.mod(frac, 1.0) @ lattice
    vec = cart[j] + sh @ lattice - cart[i]
    unit = vec / d[:, None]
    cos_min = np.cos(np.radians(p.min_bond_angle))
    accepted: dict[int, list[np.ndarray]] = {}
    keep = np.ones(len(i), dtype=bool)
    for b in range(len(i)):
        a, c, u = int(i[b]), int(j[b]), unit[b]
        bad = any(float(np.dot(u, v)) > cos_min for v in accepted.get(a, ()))
        if not bad:
            bad = any(float(np.dot(-u, v)) > cos_min for v in accepted.get(c, ()))
        if bad:
            keep[b] = False
            continue
        accepted.setdefault(a, []).append(u)
        accepted.setdefault(c, []).append(-u)
    bonds = Bonds(i[keep], j[keep], sh[keep].astype(np.int64), d[keep])
    return bonds, anomalies


def periodic_atoms(n_atoms: int, i: np.ndarray, j: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Which atoms belong to a bonded component that reaches its own periodic image (a 1-, 2- or
    3-periodic net: framework, chain or layer) rather than a finite molecule.

    Args:
        n_atoms: N.
        i, j: (B,) bonded atoms: atom ``i`` to the image of atom ``j`` at ``shift``.
        shift: (B, 3) integer lattice shifts.
    Returns:
        (N,) bool. Each component is walked once, giving every atom the cell it is reached in; a
        bond whose atoms' cells differ by other than its shift closes a loop through the lattice.
    """
    i, j = np.asarray(i, dtype=int), np.asarray(j, dtype=int)
    shift = np.asarray(shift, dtype=np.int64).reshape(-1, 3)
    adjacent: list[list[tuple[int, int]]] = [[] for _ in range(n_atoms)]
    for b, (a, c) in enumerate(zip(i.tolist(), j.tolist())):
        adjacent[a].append((c, b))
        adjacent[c].append((a, ~b))  # ~b: bond b walked backwards
    cell = np.zeros((n_atoms, 3), dtype=np.int64)
    comp = np.full(n_atoms, -1)
    for root in range(n_atoms):
        if comp[root] >= 0:
            continue
        comp[root], stack = root, [root]
        while stack:
            a = stack.pop()
            for c, b in adjacent[a]:
                if comp[c] < 0:
                    comp[c] = root
                    cell[c] = cell[a] + (shift[b] if b >= 0 else -shift[~b])
                    stack.append(c)
    looped = np.any(cell[j] != cell[i] + shift, axis=1)
    periodic = np.zeros(n_atoms, dtype=bool)
    periodic[comp[i[looped]]] = True
    return periodic[comp]
