"""How far to replicate the cell (:func:`replication`), and back from the relaxed supercell to
the unit cell (:func:`fold_supercell`).

Every supercell atom is matched to its unit-cell atom by its initial fractional position; the
relaxed unit cell is the relaxed supercell divided by the replication, and each atom's relaxed
position is the average over its replicas (the replica spread says how far they disagree).
"""

from __future__ import annotations

import numpy as np

from mof.periodic import cell_widths, minimum_image, wrap


def replication(lattice: np.ndarray, min_width: float) -> tuple[int, int, int]:
    """The replication along a, b, c that makes every perpendicular width at least ``min_width``
    (A) (:func:`mof.periodic.cell_widths`): enough for bonded terms (a dihedral spans about 4 A
    from its central atoms) never to reach an atom's own periodic image, which LAMMPS's closest
    image needs. The non-bonded cutoff does not need it: LAMMPS reaches atoms beyond the box
    through ghost images (energy per atom of a 1x1x1 cell equals a 3x3x3 supercell's).
    """
    widths = cell_widths(lattice)
    return tuple(int(max(1, np.ceil(min_width / w - 1e-9))) for w in widths)


def fold_supercell(
    frac_unit: np.ndarray,
    lattice_unit: np.ndarray,
    frac_super_initial: np.ndarray,
    frac_super_final: np.ndarray,
    lattice_super_final: np.ndarray,
    reps: tuple[int, int, int],
    tol: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Map a relaxed supercell back onto its unit cell.

    Args:
        frac_unit: (N, 3) fractional coordinates of the unit cell that was replicated.
        lattice_unit: (3, 3) its lattice (for distances in the matching).
        frac_super_initial: (M, 3) supercell fractional coordinates before relaxation,
            M = N * prod(reps).
        frac_super_final: (M, 3) the same atoms after relaxation.
        lattice_super_final: (3, 3) relaxed supercell lattice (rows = reps[i] * a_i).
        reps: replication along a, b, c.
        tol: largest allowed distance (A) between a supercell atom's initial position and its
            unit-cell atom.

    Returns:
        (relaxed unit lattice (3, 3), relaxed fractional coordinates (N, 3) in the order of
        ``frac_unit``, replica spread: the largest distance (A) of a replica from its average).

    Raises:
        ValueError: when the supercell is not ``prod(reps)`` images of the unit cell.
    """
    reps_a = np.asarray(reps, dtype=float)
    n = len(frac_unit)
    owner = supercell_owner(frac_unit, lattice_unit, frac_super_initial, reps, tol)
    g1 = frac_super_final * reps_a
    order = np.argsort(owner, kind="stable")
    groups = g1[order].reshape(n, -1, 3)  # (N, R, 3) in unit-cell fractional units
    ref = groups[:, :1, :]
    aligned = groups - np.round(groups - ref)
    mean = aligned.mean(axis=1)
    lattice = lattice_super_final / reps_a[:, None]
    spread = float(np.linalg.norm((aligned - mean[:, None, :]) @ lattice, axis=-1).max())
    return lattice, wrap(mean), spread


def supercell_owner(
    frac_unit: np.ndarray,
    lattice_unit: np.ndarray,
    frac_super_initial: np.ndarray,
    reps: tuple[int, int, int],
    tol: float = 0.2,
) -> np.ndarray:
    """(M,) the unit-cell atom (index into ``frac_unit`` (N, 3)) that each atom of the supercell
    (``frac_super_initial`` (M, 3), before relaxation) replicates; raises ValueError when the
    supercell is not ``prod(reps)`` images of the unit cell (see :func:`fold_supercell`)."""
    reps_a = np.asarray(reps, dtype=float)
    n, m = len(frac_unit), len(frac_super_initial)
    if m != n * int(np.prod(reps)):
        raise ValueError(f"supercell has {m} atoms, expected {n} x {int(np.prod(reps))}")
    g0 = frac_super_initial * reps_a
    owner = np.empty(m, dtype=np.int64)
    worst = 0.0
    for start in range(0, m, 512):
        d = g0[start : start + 512, None, :] - frac_unit[None, :, :]
        _, cart = minimum_image(d.reshape(-1, 3), lattice_unit)
        dist = np.linalg.norm(cart, axis=1).reshape(d.shape[:2])
        best = dist.argmin(axis=1)
        owner[start : start + 512] = best
        worst = max(worst, float(dist[np.arange(len(best)), best].max()))
    if worst > tol:
        raise ValueError(f"a supercell atom is {worst:.2f} A from every unit-cell atom")
    counts = np.bincount(owner, minlength=n)
    if not np.all(counts == int(np.prod(reps))):
        raise ValueError("supercell atoms do not map one replica per unit-cell atom")
    return owner
