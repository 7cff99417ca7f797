"""Periodic geometry as small pure functions.

Conventions (pymatgen's): a lattice is a (3, 3) matrix whose *rows* are the cell vectors a, b, c
in Angstrom; fractional coordinates f (N, 3) map to Cartesian x = f @ L. Use :func:`wrap` and
:func:`minimum_image` for wrapping and minimum images (a plain ``np.mod(f, 1.0)`` can give 1.0).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "wrap",
    "frac_to_cart",
    "cart_to_frac",
    "minimum_image",
    "lll_reduce",
    "pair_min_image",
    "lattice_from_parameters",
    "lattice_parameters",
    "cell_volume",
    "cell_widths",
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


def lll_reduce(lattice: np.ndarray, delta: float = 0.99) -> tuple[np.ndarray, np.ndarray]:
    """Lenstra-Lenstra-Lovasz reduction of a row-vector lattice.

    Args:
        lattice: (3, 3) row-vector lattice.
        delta: Lovasz parameter in (0.25, 1).
    Returns:
        (reduced (3, 3), transform (3, 3) integer, determinant +-1) with
        ``reduced == transform @ lattice``: the same lattice of points, with short, nearly
        orthogonal cell vectors.
    """
    b = np.array(lattice, dtype=float)
    t = np.eye(3, dtype=np.int64)

    def gram_schmidt(b):
        bs = np.zeros_like(b)
        mu = np.zeros((3, 3))
        for i in range(3):
            bs[i] = b[i]
            for j in range(i):
                mu[i, j] = b[i] @ bs[j] / (bs[j] @ bs[j])
                bs[i] = bs[i] - mu[i, j] * bs[j]
        return bs, mu

    bs, mu = gram_schmidt(b)
    k = 1
    for _ in range(1000):  # a 3-D reduction takes a handful of swaps
        if k >= 3:
            break
        for j in range(k - 1, -1, -1):
            q = int(np.round(mu[k, j]))
            if q:
                b[k] -= q * b[j]
                t[k] -= q * t[j]
                bs, mu = gram_schmidt(b)
        if bs[k] @ bs[k] >= (delta - mu[k, k - 1] ** 2) * (bs[k - 1] @ bs[k - 1]):
            k += 1
        else:
            b[[k, k - 1]] = b[[k - 1, k]]
            t[[k, k - 1]] = t[[k - 1, k]]
            bs, mu = gram_schmidt(b)
            k = max(k - 1, 1)
    return b, t


_SHIFTS27 = np.array(
    [[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float
)


def _min_image_frac(dfrac: np.ndarray, lattice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) fractional displacements -> (shortest equivalent (..., 3) integer shift to add,
    its Cartesian vector (..., 3)), searched in the LLL-reduced basis (rounding there, then the
    27 neighbouring images), which finds the true shortest vector also in strongly skewed cells.
    """
    red, t = lll_reduce(lattice)
    t_inv = np.linalg.inv(t)  # unimodular: integer up to rounding
    d_red = np.asarray(dfrac, dtype=float) @ t_inv  # coordinates in the reduced basis
    n0 = -np.round(d_red)
    base = (d_red + n0) @ red  # (..., 3) the rounded image
    step = _SHIFTS27 @ red  # (27, 3)
    # |base + step|^2 without its first term |base|^2, which is the same for all 27 images
    best = np.argmin(2 * (base @ step.T) + (step**2).sum(-1), axis=-1)
    n_red = n0 + _SHIFTS27[best]
    vec = (d_red + n_red) @ red
    shift = np.rint(n_red @ t).astype(np.int64)  # back to the original basis
    return shift, vec


def minimum_image(dfrac: np.ndarray, lattice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-image version of fractional displacements.

    The search runs in the LLL-reduced basis of the lattice (round, then the 27 neighbouring
    images), so the result is the true shortest vector also in strongly skewed cells.

    Args:
        dfrac: (N, 3) fractional displacements.
        lattice: (3, 3) row-vector lattice.
    Returns:
        (dfrac_min (N, 3), cart_min (N, 3)): the shortest equivalent fractional displacement and
        its Cartesian vector.
    """
    d = np.atleast_2d(np.asarray(dfrac, dtype=float))
    shift, cart = _min_image_frac(d, np.asarray(lattice, dtype=float))
    return d + shift, cart


def pair_min_image(
    a: np.ndarray, b: np.ndarray, lattice: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Shortest periodic vectors between two sets of Cartesian points.

    Args:
        a: (P, 3) Cartesian positions.
        b: (Q, 3) Cartesian positions.
        lattice: (3, 3) row-vector lattice.
    Returns:
        (vec (P, Q, 3), shift (P, Q, 3) integer): ``vec[p, q] = b[q] + shift[p, q] @ lattice -
        a[p]`` is the shortest such vector.
    """
    lat = np.asarray(lattice, dtype=float)
    d = (np.asarray(b, dtype=float)[None, :, :] - np.asarray(a, dtype=float)[:, None, :]) @ (
        np.linalg.inv(lat)
    )
    shift, vec = _min_image_frac(d, lat)
    return vec, shift


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


def cell_widths(lattice: np.ndarray) -> np.ndarray:
    """(3,) perpendicular widths (A) of a (3, 3) row-vector lattice: the distance between the two
    faces spanned by the other two vectors, ``V / |b x c|`` for a; the cell holds a sphere of
    diameter ``min(widths)`` and no smaller cell edge length says that in skewed cells."""
    lat = np.asarray(lattice, dtype=float)
    volume = abs(np.linalg.det(lat))
    areas = np.linalg.norm(np.cross(lat[[1, 2, 0]], lat[[2, 0, 1]]), axis=1)
    return volume / areas
