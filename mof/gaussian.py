"""The coarse Gaussian of a building block and its principal-axis frame.

A building block with points P (its atoms and connection points, Cartesian, unwrapped so that the
block is contiguous) becomes

    centre c = mean(P)
    G        = (P - c)^T (P - c) / |P|               (gyration tensor, 3 x 3)
    G        = R diag(lambda) R^T                     (principal axes, lambda descending)
    Sigma    = R diag(max(lambda, floor)) R^T         (symmetric positive-definite)

R is a proper rotation (det +1) with a deterministic sign convention (each axis points towards
the side with the larger third moment), so instances of the same block in similar conformations
get similar local coordinates. Sigma is rotation-equivariant: rotating P by Q gives Q Sigma Q^T.
"""

from __future__ import annotations

import numpy as np


def gyration_tensor(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (3,) and gyration tensor (3, 3) of (M, 3) points."""
    pts = np.asarray(points, dtype=float)
    c = pts.mean(axis=0)
    d = pts - c
    return c, d.T @ d / len(pts)


def principal_frame(points: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre, rotation and floored Sigma of a point set.

    Args:
        points: (M, 3) Cartesian points (atoms and connection points), M >= 1.
        floor: minimum eigenvalue of Sigma in A^2 (> 0).
    Returns:
        centre (3,), R (3, 3) proper rotation whose columns are the principal axes (largest
        variance first), Sigma (3, 3) SPD.
    """
    if floor <= 0:
        raise ValueError("sigma floor must be positive")
    c, g = gyration_tensor(points)
    w, v = np.linalg.eigh(g)  # ascending
    w, v = w[::-1], v[:, ::-1].copy()
    d = np.asarray(points, dtype=float) - c
    proj = d @ v  # (M, 3)
    for k in range(3):
        m3 = float(np.sum(proj[:, k] ** 3))
        if abs(m3) > 1e-8:
            sign = 1.0 if m3 > 0 else -1.0
        else:  # symmetric along this axis: fall back to the first clearly non-zero coordinate
            nz = np.flatnonzero(np.abs(proj[:, k]) > 1e-6)
            sign = 1.0 if len(nz) == 0 or proj[nz[0], k] > 0 else -1.0
        v[:, k] *= sign
        proj[:, k] *= sign
    if np.linalg.det(v) < 0:
        v[:, 2] *= -1.0
    lam = np.maximum(w, floor)
    sigma = (v * lam) @ v.T
    sigma = 0.5 * (sigma + sigma.T)
    return c, v, sigma
