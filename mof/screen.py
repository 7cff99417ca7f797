"""The checks every per-structure stage (relax, validate) makes before it spends time on a
structure, all through the one CIF reader of :mod:`mof.io`. Each failure is a reason code:

====================  =========================================================================
reason                meaning
====================  =========================================================================
bad_cif               the CIF cannot be read: missing or unreadable file, empty, truncated,
                      unknown element, a cell that is no cell (a length <= 0, an angle of 0 or
                      180, no volume), NaN or infinite numbers
multiple_data_blocks  the file holds more than one ``data_`` block
too_many_atoms        more atoms than the stage's ``max_atoms``
disorder              partially occupied sites (occupancy below ``occupancy_tolerance``)
overlapping_atoms     two atoms closer than ``min_distance`` (duplicated atoms included)
====================  =========================================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mof.cifcheck import CifError
from mof.crystal import Crystal
from mof.io import read_cif

SCREEN_REASONS = (
    "bad_cif",
    "multiple_data_blocks",
    "too_many_atoms",
    "disorder",
    "overlapping_atoms",
)


def closest_contact(frac: np.ndarray, lattice: np.ndarray) -> float:
    """Shortest periodic distance (A) between two different atoms (or an atom and its own image).

    Args:
        frac: (N, 3) fractional coordinates.
        lattice: (3, 3) row-vector lattice.
    """
    from mof.bonds import neighbour_pairs

    n = len(frac)
    best = float(np.min(np.linalg.norm(lattice, axis=1)))  # an atom and its own image
    if n < 2:
        return best
    _, _, _, dist = neighbour_pairs(frac, lattice, min(best, 3.0))
    if len(dist):
        best = min(best, float(dist.min()))
    return best


def closest_contact_ratio(
    frac: np.ndarray, lattice: np.ndarray, species: list[str]
) -> tuple[float, int, int, float]:
    """The closest approach of two atoms (bonded or not; an atom and its own image included)
    relative to the sum of their covalent radii: min over pairs of d_ij / (r_i + r_j).

    Real frameworks keep this above 0.7 (the shortest bonds, C-C and C-N triple bonds, are at
    0.73-0.79); a structure below it holds a contact no chemistry makes.

    Args:
        frac: (N, 3) fractional coordinates.
        lattice: (3, 3) row-vector lattice.
        species: (N,) element symbols.
    Returns:
        (ratio, i, j, d): the smallest ratio, its pair of atom indices and their distance (A);
        (inf, -1, -1, inf) when no two atoms are within the sum of their radii.
    """
    from mof.bonds import neighbour_pairs
    from mof.elements import atomic_numbers, covalent_radii

    radii = covalent_radii(atomic_numbers(list(species)))
    i, j, _, d = neighbour_pairs(frac, lattice, 2.0 * float(radii.max()))
    none = (float("inf"), -1, -1, float("inf"))
    if not len(d):
        return none
    ratio = d / (radii[i] + radii[j])
    k = int(np.argmin(ratio))
    if ratio[k] >= 1.0:
        return none
    return float(ratio[k]), int(i[k]), int(j[k]), float(d[k])


def screen_cif(
    cif: str | Path,
    min_distance: float = 0.5,
    max_atoms: int | None = None,
    occupancy_tolerance: float = 0.99,
) -> tuple[Crystal | None, str, str]:
    """Read and check one CIF.

    Returns:
        (crystal or None when unreadable, reason code or "" when it passes, message).
    """
    try:
        cr = read_cif(cif)
    except CifError as e:
        return None, e.reason, str(e)
    except Exception as e:  # noqa: BLE001 - a reader bug must not kill a batch either
        return None, "bad_cif", f"{type(e).__name__}: {e}"
    if max_atoms and cr.n_atoms > max_atoms:
        return cr, "too_many_atoms", f"{cr.n_atoms} atoms (limit {max_atoms})"
    low = int(np.sum(cr.occupancy < occupancy_tolerance))
    if low:
        return cr, "disorder", f"{low} sites with occupancy < {occupancy_tolerance}"
    try:
        contact = closest_contact(cr.frac, cr.lattice)
    except (Exception, MemoryError) as e:  # noqa: BLE001
        return cr, "bad_cif", f"cannot measure distances: {type(e).__name__}: {e}"
    if contact < min_distance:
        return cr, "overlapping_atoms", f"two atoms {contact:.3f} A apart (< {min_distance})"
    return cr, "", ""
