"""Invariant Gaussian Attention (IGA) and the IGA denoiser network.

Every building block is a Gaussian G_i = (mu_i, Sigma_i, s_i): centre mu_i (fractional, periodic),
shape Sigma_i (3 x 3 SPD, Cartesian, A^2) and features s_i. Attention logits between i and j add
a scalar term from (s_i, s_j) to the geometric overlap

    overlap_ij = log sum_n exp( -1/2 (d_ij + n L)^T (Sigma_i + Sigma_j)^-1 (d_ij + n L) )

over the 27 lattice images n around the rounded fractional displacement d_ij = mu_j - mu_i (the
log-sum-exp equals the minimum-image term when the Gaussians are small compared with the cell,
and adds the other images when they are not). Updates:

- s (invariant): attention-weighted values plus radial edge features, then a feed-forward block;
- mu (equivariant): mu_i += sum_h sum_j w^h_ij (a^h_i + b^h_j + c^h(|dbar_ij|)) dbar_ij, where
  dbar_ij is the
  image-weighted displacement (the images' softmax weights from the overlap) in Cartesian terms,
  converted back to fractional coordinates: rotating the whole cell leaves it unchanged;
- Sigma (equivariant, SPD): Sigma_i <- exp(c_i) Sigma_i + sum_h sum_j w^h_ij softplus(e^h_ij)
  dbar dbar^T / (|dbar|^2 + 1): a positive multiple of an SPD matrix plus PSD terms stays SPD.

All scalar inputs to the gates are functions of invariants (features, distances, lattice
lengths/angles), so the whole network is invariant to rotating the cell (lattice, Sigmas),
translating all centres, moving a centre by a lattice vector, and equivariant to permuting blocks.

Shapes: B structures, K blocks (padded, ``mask`` (B, K) True for real blocks), C features.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from model.geometry import cart_to_frac, lattice_to_params, pair_displacements, sym, wrap


def periodic_overlap(
    mu: torch.Tensor, sigma: torch.Tensor, lattice: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Periodic Gaussian overlap log-sum-exp over 27 images.

    Args:
        mu: (B, K, 3) fractional centres; sigma: (B, K, 3, 3); lattice: (B, 3, 3).
    Returns:
        overlap (B, K, K), dbar (B, K, K, 3) image-weighted Cartesian displacement j - i,
        dist (B, K, K) its length.
    """
    _, dimg = pair_displacements(mu, lattice, images=True)  # (B, K, K, 27, 3)
    pair = sigma[:, :, None] + sigma[:, None, :]  # (B, K, K, 3, 3)
    inv = torch.linalg.inv(pair)
    quad = -0.5 * torch.einsum("bijnx,bijxy,bijny->bijn", dimg, inv, dimg)
    overlap = torch.logsumexp(quad, dim=-1)
    pi = torch.softmax(quad, dim=-1)
    dbar = torch.einsum("bijn,bijnx->bijx", pi, dimg)
    dist = torch.sqrt((dbar**2).sum(-1) + 1e-8)
    return overlap, dbar, dist


def rbf(d: torch.Tensor, n: int = 16, cutoff: float = 20.0) -> torch.Tensor:
    centres = torch.linspace(0.0, cutoff, n, device=d.device, dtype=d.dtype)
    return torch.exp(-0.5 * ((d[..., None] - centres) / (cutoff / n)) ** 2)


class AdaLN(nn.Module):
    """LayerNorm whose scale and shift come from the conditioning vector (time)."""

    def __init__(self, dim: int, cond: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.mod = nn.Linear(cond, 2 * dim)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift = self.mod(c)[:, None, :].chunk(2, dim=-1)
        return self.norm(h) * (1 + scale) + shift


class IGALayer(nn.Module):
    """One Invariant Gaussian Attention layer updating (s, mu, Sigma)."""

    def __init__(self, dim: int, heads: int, cond: int, n_rbf: int = 16):
        super().__init__()
        if dim % heads:
            raise ValueError("dim must be divisible by heads")
        self.h, self.dh = heads, dim // heads
        self.n_rbf = n_rbf
        self.norm1 = AdaLN(dim, cond)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.geo_scale = nn.Parameter(torch.zeros(heads))  # softplus -> positive weight
        self.edge_bias = nn.Linear(n_rbf, heads)
        self.edge_value = nn.Linear(n_rbf, dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = AdaLN(dim, cond)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.mu_gate = nn.Linear(dim, 2 * heads)
        self.mu_edge = nn.Sequential(nn.Linear(n_rbf, dim), nn.SiLU(), nn.Linear(dim, heads))
        self.sigma_gate = nn.Linear(dim, 2 * heads)
        self.sigma_scale = nn.Linear(dim, 1)
        for lin in (self.mu_gate, self.mu_edge[-1], self.sigma_gate, self.sigma_scale):
            nn.init.normal_(lin.weight, std=1e-2)
            nn.init.zeros_(lin.bias)

    def forward(self, s, mu, sigma, lattice, mask, c):
        b, k, _ = s.shape
        overlap, dbar, dist = periodic_overlap(mu, sigma, lattice)
        e = rbf(dist, self.n_rbf)  # (B, K, K, R)
        x = self.norm1(s, c)
        q, kk, v = self.qkv(x).view(b, k, 3, self.h, self.dh).unbind(2)
        logits = torch.einsum("bihd,bjhd->bijh", q, kk) / math.sqrt(self.dh)
        logits = logits + nn.functional.softplus(self.geo_scale) * overlap[..., None]
        logits = logits + self.edge_bias(e)
        logits = logits.masked_fill(~mask[:, None, :, None], float("-inf"))
        w = torch.softmax(logits, dim=2)  # over j; (B, K, K, H)
        w = w * mask[:, :, None, None]
        ev = self.edge_value(e).view(b, k, k, self.h, self.dh)
        o = torch.einsum("bijh,bjhd->bihd", w, v) + torch.einsum("bijh,bijhd->bihd", w, ev)
        s = s + self.out(o.reshape(b, k, -1))
        s = s + self.ffn(self.norm2(s, c))

        # equivariant updates from invariant gates
        ga, gb = self.mu_gate(s).chunk(2, dim=-1)  # (B, K, H) each
        gate_mu = ga[:, :, None, :] + gb[:, None, :, :] + self.mu_edge(e)  # (B, K, K, H)
        coef = (w * gate_mu).sum(-1)
        dx = torch.einsum("bij,bijx->bix", coef, dbar)  # Cartesian
        mu = wrap(mu + cart_to_frac(dx, lattice) * mask[..., None])
        ea, eb = self.sigma_gate(s).chunk(2, dim=-1)
        gate = nn.functional.softplus(ea[:, :, None, :] + eb[:, None, :, :])  # (B, K, K, H)
        gate = (w * gate).sum(-1) * mask[:, None, :]
        outer = dbar[..., :, None] * dbar[..., None, :] / (dist[..., None, None] ** 2 + 1.0)
        add = torch.einsum("bij,bijxy->bixy", gate, outer)
        scale = torch.exp(torch.tanh(self.sigma_scale(s)))[..., None]  # (B, K, 1, 1)
        new_sigma = sym(scale * sigma + add)
        m = mask[..., None, None]
        sigma = torch.where(m, new_sigma, sigma)
        return s, mu, sigma


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, dim) sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=t.dtype) / half)
    ang = 100.0 * t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class IGADenoiser(nn.Module):
    """Stack of IGA layers with time conditioning (AdaLN) and self-conditioning.

    forward(mu, sigma, s, lattice, t, mask, sc) -> dict with the clean-structure predictions
    ``mu`` (B, K, 3) fractional, ``sigma`` (B, K, 3, 3), ``s`` (B, K, d) and ``y`` (B, 6), the
    standardised lattice (the input ``lattice`` is the (B, 3, 3) Cartesian cell). ``sc`` is None
    or a dict with the previous predictions (``s`` (B, K, d), ``y`` (B, 6), ``mu`` (B, K, 3))
    for self-conditioning.
    """

    def __init__(
        self,
        emb_dim: int = 32,
        dim: int = 64,
        layers: int = 3,
        heads: int = 4,
        lattice_mean=None,
        lattice_std=None,
    ):
        super().__init__()
        self.emb_dim = emb_dim
        cond = dim
        self.time = nn.Sequential(nn.Linear(dim, cond), nn.SiLU(), nn.Linear(cond, cond))
        self.lattice_in = nn.Linear(12, cond)
        self.inp = nn.Linear(2 * emb_dim + 2, dim)
        self.layers = nn.ModuleList(IGALayer(dim, heads, cond) for _ in range(layers))
        self.s_out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, emb_dim))
        self.lat_out = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, 6))
        # normalisation of the lattice features the network sees (set from training data)
        self.register_buffer(
            "lat_mean",
            torch.as_tensor(
                lattice_mean if lattice_mean is not None else [2.5] * 3 + [90.0] * 3,
                dtype=torch.float32,
            ),
        )
        self.register_buffer(
            "lat_std",
            torch.as_tensor(
                lattice_std if lattice_std is not None else [0.5] * 3 + [15.0] * 3,
                dtype=torch.float32,
            ),
        )

    def lattice_features(self, lattice: torch.Tensor) -> torch.Tensor:
        """(B, 3, 3) -> (B, 6) invariant, normalised: log lengths and angles."""
        p = lattice_to_params(lattice)
        feat = torch.cat([torch.log(p[:, :3]), p[:, 3:]], dim=-1)
        return (feat - self.lat_mean) / self.lat_std

    def forward(self, mu, sigma, s, lattice, t, mask, sc=None):
        b, k, _ = s.shape
        lat_feat = self.lattice_features(lattice)
        if sc is None:
            sc_s = torch.zeros_like(s)
            sc_lat = torch.zeros_like(lat_feat)
            sc_move = torch.zeros(b, k, 1, dtype=s.dtype, device=s.device)
            flag = torch.zeros(b, k, 1, dtype=s.dtype, device=s.device)
        else:
            sc_s, sc_lat = sc["s"], sc["y"]
            dmu = torch.round(sc["mu"] - mu)
            move = (sc["mu"] - mu - dmu) @ lattice  # Cartesian; only its length is used
            sc_move = torch.linalg.norm(move, dim=-1, keepdim=True)
            flag = torch.ones(b, k, 1, dtype=s.dtype, device=s.device)
        c = self.time(time_embedding(t, self.time[0].in_features))
        c = c + self.lattice_in(torch.cat([lat_feat, sc_lat], dim=-1))
        h = self.inp(torch.cat([s, sc_s, sc_move, flag], dim=-1)) * mask[..., None]
        eye = torch.eye(3, dtype=sigma.dtype, device=sigma.device)
        sigma = torch.where(mask[..., None, None], sigma, eye)
        for layer in self.layers:
            h, mu, sigma = layer(h, mu, sigma, lattice, mask, c)
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return {
            "mu": mu,
            "sigma": sigma,
            "s": self.s_out(h),
            "y": self.lat_out(pooled),
        }
