"""Element data used by bond perception and decomposition.

Covalent radii are Cordero et al. (Dalton Trans. 2008) as tabulated by RDKit's periodic table;
metals are pymatgen's ``Element.is_metal`` (alkali, alkaline-earth, transition, post-transition,
lanthanide and actinide metals; metalloids such as B, Si, Ge, As, Sb, Te are not metals).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MAX_Z = 118


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, int], np.ndarray, np.ndarray, list[str]]:
    from pymatgen.core.periodic_table import Element
    from rdkit import Chem

    pt = Chem.GetPeriodicTable()
    symbol_to_z: dict[str, int] = {}
    radii = np.full(MAX_Z + 1, np.nan)
    metal = np.zeros(MAX_Z + 1, dtype=bool)
    symbols = [""] * (MAX_Z + 1)
    for z in range(1, MAX_Z + 1):
        sym = pt.GetElementSymbol(z)
        symbol_to_z[sym] = z
        symbols[z] = sym
        radii[z] = pt.GetRcovalent(z)
        try:
            metal[z] = bool(Element(sym).is_metal)
        except ValueError:
            metal[z] = False
    return symbol_to_z, radii, metal, symbols


def element_table() -> dict[str, int]:
    """Mapping element symbol -> atomic number."""
    return _tables()[0]


def atomic_numbers(symbols: list[str] | np.ndarray) -> np.ndarray:
    """(N,) int atomic numbers for element symbols; raises ValueError naming an unknown symbol."""
    table = _tables()[0]
    out = np.empty(len(symbols), dtype=np.int64)
    for i, s in enumerate(symbols):
        try:
            out[i] = table[s]
        except KeyError:
            raise ValueError(f"unknown element symbol {s!r}") from None
    return out


def symbol(z: int) -> str:
    """Element symbol of atomic number z."""
    return _tables()[3][z]


def covalent_radii(z: np.ndarray) -> np.ndarray:
    """(N,) covalent radii in Angstrom for (N,) atomic numbers."""
    return _tables()[1][np.asarray(z)]


def is_metal(z: np.ndarray) -> np.ndarray:
    """(N,) bool: True where the atomic number is a metal."""
    return _tables()[2][np.asarray(z)]


HYDROGEN, CARBON, NITROGEN, OXYGEN = 1, 6, 7, 8
