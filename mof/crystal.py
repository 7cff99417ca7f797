"""The in-memory crystal structure (:class:`Crystal`) and the Hill formula.

Every stage works on :class:`Crystal` objects; reading and writing them is :mod:`mof.io`'s job,
the checks of what a CIF gives are :mod:`mof.cifcheck`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from mof.cifcheck import CifError

__all__ = ["Crystal", "hill_formula"]


def hill_formula(symbols: Iterable[str]) -> str:
    """Hill formula of element symbols: with carbon, C then H first and the rest alphabetical;
    without carbon, all alphabetical; a count of 1 is not written (``"C8H4O4Zn"``, ``"CuO"``)."""
    counts = Counter(symbols)
    order = [e for e in ("C", "H") if e in counts] if "C" in counts else []
    order += sorted(e for e in counts if e not in order)
    return "".join(f"{e}{counts[e] if counts[e] > 1 else ''}" for e in order)


@dataclass
class Crystal:
    """A periodic structure.

    Attributes:
        id: structure identifier (file name without extension).
        lattice: (3, 3) row-vector lattice in Angstrom.
        species: (N,) element symbols.
        frac: (N, 3) fractional coordinates.
        occupancy: (N,) site occupancies (1.0 when the CIF gives none).
        bonds: (B, 2) atom index pairs from the CIF's ``_geom_bond`` loop, or None when it has
            none (then bonds are perceived from distances wherever they are needed).
    """

    id: str
    lattice: np.ndarray
    species: list[str]
    frac: np.ndarray
    occupancy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bonds: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.lattice = np.asarray(self.lattice, dtype=float).reshape(3, 3)
        self.frac = np.asarray(self.frac, dtype=float).reshape(-1, 3)
        if len(self.occupancy) != len(self.species):
            self.occupancy = np.ones(len(self.species))
        if len(self.species) != len(self.frac):
            raise CifError(f"{self.id}: {len(self.species)} species but {len(self.frac)} sites")

    @property
    def n_atoms(self) -> int:
        return len(self.species)

    @property
    def cart(self) -> np.ndarray:
        """(N, 3) Cartesian coordinates."""
        return self.frac @ self.lattice

    @property
    def formula(self) -> str:
        """Hill formula of the cell contents (:func:`hill_formula`), e.g. ``"C2HCuO"``."""
        return hill_formula(self.species)
