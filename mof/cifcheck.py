"""What a CIF must give to be a crystal structure, and the error when it does not.

* :class:`CifError`: the reader's one exception, with the reason code the stages record;
* :func:`checked_lattice`: the lattice of six cell parameters, refusing numbers that make no
  cell (not finite, a length <= 0 or over :data:`MAX_CELL_LENGTH`, an angle outside (0, 180),
  angles that enclose no volume);
* :func:`check_crystal`: refusing non-finite or absurd coordinates and occupancies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mof.periodic import lattice_from_parameters

if TYPE_CHECKING:
    from mof.crystal import Crystal

__all__ = ["MAX_CELL_LENGTH", "CifError", "check_crystal", "checked_lattice"]


class CifError(ValueError):
    """A CIF that cannot be turned into a crystal structure.

    ``reason`` is the code the stages record: ``bad_cif`` (the default) or
    ``multiple_data_blocks`` (a file with more than one ``data_`` block: which one was meant is
    not ours to guess, so every stage rejects it).
    """

    def __init__(self, message: str, reason: str = "bad_cif"):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):
        return (type(self), (str(self), self.reason))


MAX_CELL_LENGTH = 1e4  # A: no crystal structure has a longer cell edge
_CELL_KEYS = [f"_cell_length_{k}" for k in "abc"]
_CELL_KEYS += [f"_cell_angle_{k}" for k in ("alpha", "beta", "gamma")]


def checked_lattice(params: list[float]) -> np.ndarray:
    """The lattice of six cell parameters; a CifError naming the field when they make no cell
    (not finite, a length <= 0, an angle outside (0, 180), angles that enclose no volume)."""
    for key, v in zip(_CELL_KEYS, params):
        if not np.isfinite(v):
            raise CifError(f"{key} is {v}")
        if key.startswith("_cell_length") and not 0 < v <= MAX_CELL_LENGTH:
            raise CifError(f"{key} is {v}: a cell length must lie in (0, {MAX_CELL_LENGTH:g}] A")
        if key.startswith("_cell_angle") and not 0 < v < 180:
            raise CifError(f"{key} is {v}: a cell angle must lie strictly between 0 and 180")
    cos = np.cos(np.radians(params[3:]))
    if 1 - (cos**2).sum() + 2 * cos.prod() < 1e-8:
        names = ", ".join(f"{k}={v}" for k, v in zip(_CELL_KEYS[3:], params[3:]))
        raise CifError(f"the cell angles enclose no volume ({names})")
    lattice = lattice_from_parameters(*params)
    if not np.all(np.isfinite(lattice)):
        raise CifError(f"the cell {params} overflows")
    return lattice


def check_crystal(cr: Crystal) -> Crystal:
    """Refuse what no stage can use: non-finite or absurd coordinates, a cell of no volume."""
    if not np.all(np.isfinite(cr.lattice)) or abs(np.linalg.det(cr.lattice)) < 1e-6:
        raise CifError("the cell has no volume (or is not finite)")
    bad = ~np.isfinite(cr.frac) | (np.abs(cr.frac) > 1e3)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise CifError(
            f"_atom_site_fract_{'xyz'[j]} of atom {i + 1} ({cr.species[i]}) is {cr.frac[i, j]}"
        )
    bad_occ = ~np.isfinite(cr.occupancy) | (cr.occupancy < 0)
    if bad_occ.any():
        i = int(np.argmax(bad_occ))
        raise CifError(f"_atom_site_occupancy of atom {i + 1} is {cr.occupancy[i]}")
    return cr
