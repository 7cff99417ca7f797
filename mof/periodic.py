"""Periodic geometry as small pure functions.

Conventions (pymatgen's): a lattice is a (3, 3) matrix whose *rows* are the cell vectors a, b, c
in Angstrom; fractional coordinates f (N, 3) map to Cartesian x = f @ L. Every piece of code that
needs wrapping or a minimum image uses these helpers instead of ad-hoc ``% 1.0``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "wrap",
    "frac_to_cart",
    "cart_to_frac",
    "minimum_image",
    "lattice_from_parameters",
    "lattice_parameters",
    "cell_volume",
]


def wrap(frac: np.ndarray) -> np.ndarray:
    """Wrap fractional coordinates into [0, 1).

    Args:
        frac: (..., 3) fractional coordinates.
    Returns:
        (..., 3) array in [0, 1); values that round to 1.0 are mapped to 0.0.
    """
    w = np.mod(frac, 1.0)
    w[w >= 1.0] = 0.0  # np.mod(-1e-17, 1) == 1.0 in floating point
    return w


def frac_to_cart(frac: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """(..., 3) fractional -> (..., 3) Cartesian coordinates for a (3, 3) row-vector lattice."""
    return np.asarray(frac) @ np.asarray(lattice)


def cart_to_frac(cart: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """(..., 3) Cartesian -> (..., 3) fractional coordinates for a (3, 3) row-vector lattice."""
    return np.linalg.solve(np.asarray(lattice).T, np.asarray(cart).T).T


def minimum_image(dfrac: np.ndarray, lattice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-image version of fractional displacements.

    Rounds each fractional component to the nearest integer, then searches the 27 neighbouring
    images so that the result is the true shortest vector also in strongly skewed cells.

    Args:
        dfrac: (N, 3) fractional displacements.
        lattice: (3, 3) row-vector lattice.
    Returns:
        (dfrac_min (N, 3), cart_min (N, 3)): the shortest equivalent fractional displacement and
        its Cartesian vector.
    """
    d = np.atleast_2d(np.asarray(dfrac, dtype=float))
    d = d - np.round(d)
    shifts = np.array(
        [[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float
    )
    cand = d[:, None, :] + shifts[None, :, :]  # (N, 27, 3)
    cart = cand @ lattice
    best = np.argmin(np.einsum("nkx,nkx->nk", cart, cart), axis=1)
    idx = np.arange(len(d))
    return cand[idx, best], cart[idx, best]


def lattice_from_parameters(
    a: float, b: float, c: float, alpha: float, beta: float, gamma: float
) -> np.ndarray:
    """(3, 3) row-vector lattice from lengths (A) and angles (degrees).

    Orientation: a along x, b in the xy plane, c with a positive z component.
    """
    al, be, ga = np.radians([alpha, beta, gamma])
    ca, cb, cg, sg = np.cos(al), np.cos(be), np.cos(ga), np.sin(ga)
    cx = c * cb
    cy = c * (ca - cb * cg) / sg
    cz2 = c * c - cx * cx - cy * cy
    if cz2 <= 0:
        raise ValueError(f"impossible cell angles alpha={alpha} beta={beta} gamma={gamma}")
    return np.array([[a, 0.0, 0.0], [b * cg, b * sg, 0.0], [cx, cy, np.sqrt(cz2)]])


def lattice_parameters(lattice: np.ndarray) -> np.ndarray:
    """(6,) lengths (A) and angles (degrees) a, b, c, alpha, beta, gamma of a (3, 3) lattice."""
    lat = np.asarray(lattice, dtype=float)
    lengths = np.linalg.norm(lat, axis=1)

    def angle(u: np.ndarray, v: np.ndarray) -> float:
        cosang = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
        return float(np.degrees(np.arccos(np.clip(cosang, -1.0, 1.0))))

    return np.array([*lengths, angle(lat[1], lat[2]), angle(lat[0], lat[2]), angle(lat[0], lat[1])])


def cell_volume(lattice: np.ndarray) -> float:
    """Volume (A^3) of a (3, 3) row-vector lattice."""
    return float(abs(np.linalg.det(np.asarray(lattice, dtype=float))))
