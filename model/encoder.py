"""SE(3)-invariant building-block encoder (MOFDiff's building-block embedding, our network).

A building block is a small point cloud: its atoms (atomic number Z) and its connection points
(pseudo-atoms of type 0), with 3D positions in Angstrom. The encoder is a continuous-filter
convolution network (SchNet-style) over the graph of pairs closer than ``cutoff``: every message
depends on the pair distance only, and pooling is a sum/mean over nodes, so the output is
invariant to rotation, translation and permutation by construction (no augmentation needed).

Shapes: N nodes in a batch of G blocks, E directed edges.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def radial_basis(d: torch.Tensor, n: int, cutoff: float) -> torch.Tensor:
    """(E,) distances -> (E, n) Gaussian radial basis times a smooth cosine cutoff envelope."""
    centres = torch.linspace(0.0, cutoff, n, device=d.device, dtype=d.dtype)
    width = cutoff / n
    rbf = torch.exp(-0.5 * ((d[:, None] - centres[None, :]) / width) ** 2)
    env = 0.5 * (torch.cos(math.pi * torch.clamp(d / cutoff, max=1.0)) + 1.0)
    return rbf * env[:, None]


class Interaction(nn.Module):
    """h_i <- h_i + MLP( sum_j filter(rbf(d_ij)) * W h_j )."""

    def __init__(self, hidden: int, n_rbf: int):
        super().__init__()
        self.filter = nn.Sequential(nn.Linear(n_rbf, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.lin_in = nn.Linear(hidden, hidden, bias=False)
        self.update = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, rbf: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index
        msg = self.filter(rbf) * self.lin_in(h)[src]
        agg = torch.zeros_like(h).index_add_(0, dst, msg)
        return h + self.update(self.norm(agg))


class BlockEncoder(nn.Module):
    """Building block -> dense embedding b in R^dim (invariant)."""

    def __init__(
        self,
        dim: int = 32,
        hidden: int = 64,
        layers: int = 3,
        n_rbf: int = 32,
        cutoff: float = 6.0,
        max_z: int = 100,
    ):
        super().__init__()
        self.cutoff = cutoff
        self.n_rbf = n_rbf
        self.embed = nn.Embedding(max_z + 1, hidden)  # index 0: connection point
        self.layers = nn.ModuleList(Interaction(hidden, n_rbf) for _ in range(layers))
        self.readout = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim)
        )

    def forward(
        self,
        z: torch.Tensor,
        pos: torch.Tensor,
        edge_index: torch.Tensor,
        batch: torch.Tensor,
        n_graphs: int,
    ) -> torch.Tensor:
        """z (N,) long, pos (N, 3), edge_index (2, E) long, batch (N,) long -> (G, dim)."""
        src, dst = edge_index
        d = torch.linalg.norm(pos[dst] - pos[src], dim=-1)
        rbf = radial_basis(d, self.n_rbf, self.cutoff)
        h = self.embed(z)
        for layer in self.layers:
            h = layer(h, edge_index, rbf)
        summed = torch.zeros(n_graphs, h.shape[1], dtype=h.dtype, device=h.device)
        summed.index_add_(0, batch, h)
        counts = torch.bincount(batch, minlength=n_graphs).clamp(min=1).to(h.dtype)[:, None]
        return self.readout(torch.cat([summed / counts, summed / 10.0], dim=1))


class EmbeddingModel(nn.Module):
    """Encoder plus the training heads: a projection for the contrastive loss and auxiliary
    regressions (log atoms, log(1 + connection points), radius of gyration) from b."""

    def __init__(
        self,
        dim: int = 32,
        hidden: int = 64,
        layers: int = 3,
        cutoff: float = 6.0,
        proj_dim: int = 64,
    ):
        super().__init__()
        self.encoder = BlockEncoder(dim=dim, hidden=hidden, layers=layers, cutoff=cutoff)
        self.projection = nn.Sequential(
            nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, proj_dim)
        )
        self.aux = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, 3))

    def forward(self, z, pos, edge_index, batch, n_graphs):
        b = self.encoder(z, pos, edge_index, batch, n_graphs)
        return b, self.projection(b), self.aux(b)


def supervised_contrastive_loss(
    proj: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) with cosine similarity.

    Args:
        proj: (B, p) projections.
        labels: (B,) class labels; anchors without a positive in the batch are skipped.
    """
    p = nn.functional.normalize(proj, dim=1)
    sim = p @ p.T / temperature
    eye = torch.eye(len(p), dtype=torch.bool, device=p.device)
    sim = sim.masked_fill(eye, -1e9)
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not has.any():
        return proj.sum() * 0.0
    mean_log_prob = (log_prob * pos).sum(1)[has] / n_pos[has]
    return -mean_log_prob.mean()
