"""Periodic geometry and SPD-matrix helpers in torch (batched, differentiable).

Conventions as in :mod:`mof.periodic`: lattices are (..., 3, 3) with the cell vectors as rows,
fractional f maps to Cartesian x = f @ L. All functions are pure and broadcast over leading dims.
"""

from __future__ import annotations

import itertools
import math

import torch

IMAGES = torch.tensor(list(itertools.product((-1, 0, 1), repeat=3)), dtype=torch.float64)


def wrap(frac: torch.Tensor) -> torch.Tensor:
    """(..., 3) fractional coordinates -> [0, 1)."""
    w = torch.remainder(frac, 1.0)
    return torch.where(w >= 1.0, torch.zeros_like(w), w)


def frac_to_cart(frac: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """(B, K, 3) fractional, (B, 3, 3) lattice -> (B, K, 3) Cartesian."""
    return frac @ lattice


def cart_to_frac(cart: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """(B, K, 3) Cartesian, (B, 3, 3) lattice -> (B, K, 3) fractional."""
    return cart @ torch.linalg.inv(lattice)


def min_image_frac(dfrac: torch.Tensor) -> torch.Tensor:
    """Round fractional differences to the nearest image, (..., 3) -> (..., 3) in [-0.5, 0.5]."""
    return dfrac - torch.round(dfrac)


def pair_displacements(
    mu: torch.Tensor, lattice: torch.Tensor, images: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Periodic displacements mu_j - mu_i for all pairs.

    Args:
        mu: (B, K, 3) fractional centres.
        lattice: (B, 3, 3).
        images: also return the 27 neighbouring images of the rounded difference.
    Returns:
        (d0, dimg): d0 (B, K, K, 3) Cartesian displacement of the rounded (nearest in fractional
        terms) image; dimg (B, K, K, 27, 3) Cartesian displacements of the 27 images around it
        (or None when images is False).
    """
    df = min_image_frac(mu[:, None, :, :] - mu[:, :, None, :])  # (B, K, K, 3), j - i
    d0 = torch.einsum("bijx,bxy->bijy", df, lattice)
    if not images:
        return d0, None
    shifts = IMAGES.to(dtype=mu.dtype, device=mu.device)  # (27, 3)
    img = torch.einsum("nx,bxy->bny", shifts, lattice)  # (B, 27, 3)
    return d0, d0[:, :, :, None, :] + img[:, None, None, :, :]


def lattice_from_params(params: torch.Tensor) -> torch.Tensor:
    """(..., 6) lengths (A) and angles (degrees) -> (..., 3, 3) lattice, a along x, b in xy."""
    a, b, c = params[..., 0], params[..., 1], params[..., 2]
    al, be, ga = (torch.deg2rad(params[..., k]) for k in (3, 4, 5))
    ca, cb, cg, sg = torch.cos(al), torch.cos(be), torch.cos(ga), torch.sin(ga)
    cx = c * cb
    cy = c * (ca - cb * cg) / sg
    cz = torch.sqrt(torch.clamp(c * c - cx * cx - cy * cy, min=1e-6))
    zero = torch.zeros_like(a)
    rows = [
        torch.stack([a, zero, zero], -1),
        torch.stack([b * cg, b * sg, zero], -1),
        torch.stack([cx, cy, cz], -1),
    ]
    return torch.stack(rows, -2)


def lattice_to_params(lattice: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) lattice -> (..., 6) lengths and angles (degrees)."""
    lengths = torch.linalg.norm(lattice, dim=-1)

    def ang(u, v, nu, nv):
        return torch.rad2deg(torch.arccos(torch.clamp((u * v).sum(-1) / (nu * nv), -1.0, 1.0)))

    a, b, c = lattice[..., 0, :], lattice[..., 1, :], lattice[..., 2, :]
    la, lb, lc = lengths[..., 0], lengths[..., 1], lengths[..., 2]
    return torch.stack([la, lb, lc, ang(b, c, lb, lc), ang(a, c, la, lc), ang(a, b, la, lb)], -1)


def sym(m: torch.Tensor) -> torch.Tensor:
    """Symmetric part of (..., 3, 3)."""
    return 0.5 * (m + m.transpose(-1, -2))


class _SPDLog(torch.autograd.Function):
    """log of an SPD matrix with a backward pass that stays finite for repeated eigenvalues
    (Daleckii-Krein: divided differences of log, 1/lambda on the diagonal)."""

    @staticmethod
    def forward(ctx, m):
        w, v = torch.linalg.eigh(sym(m))
        w = torch.clamp(w, min=1e-12)
        ctx.save_for_backward(w, v)
        return sym(v @ torch.diag_embed(torch.log(w)) @ v.transpose(-1, -2))

    @staticmethod
    def backward(ctx, grad):
        w, v = ctx.saved_tensors
        lw = torch.log(w)
        dw = w[..., :, None] - w[..., None, :]
        dl = lw[..., :, None] - lw[..., None, :]
        close = dw.abs() <= 1e-9 * (w[..., :, None].abs() + w[..., None, :].abs()) + 1e-30
        mean_w = 0.5 * (w[..., :, None] + w[..., None, :])
        f = torch.where(close, 1.0 / mean_w, dl / torch.where(close, torch.ones_like(dw), dw))
        g = v.transpose(-1, -2) @ sym(grad) @ v
        return v @ (f * g) @ v.transpose(-1, -2)


def spd_log(m: torch.Tensor) -> torch.Tensor:
    """Matrix logarithm of symmetric positive-definite (..., 3, 3), differentiable also where
    eigenvalues coincide."""
    return _SPDLog.apply(m)


def spd_exp(m: torch.Tensor) -> torch.Tensor:
    """Matrix exponential of symmetric (..., 3, 3) (eigendecomposition): always SPD."""
    w, v = torch.linalg.eigh(sym(m))
    return sym(v @ torch.diag_embed(torch.exp(w)) @ v.transpose(-1, -2))


def random_symmetric(shape: tuple[int, ...], generator=None, dtype=torch.float32, device=None):
    """(..., 3, 3) symmetric Gaussian noise whose distribution is rotation invariant (GOE):
    diagonal entries N(0, 2), off-diagonal N(0, 1), so E||X||_F^2 = 12."""
    g = torch.randn(*shape, 3, 3, generator=generator, dtype=dtype, device=device)
    return (g + g.transpose(-1, -2)) / math.sqrt(2.0)
