"""Geometric fit of rigid building blocks in a periodic cell so that their connection points meet.

A connection point (CP) p of a block is a point ``x_p`` (the midpoint of the cut bond in the
training structure) and the block's own atom ``y_p`` that carried the bond; ``u_p = y_p - x_p`` is
half the bond, pointing to the own side. Two CPs p (node side) and q (linker side) meet as in the
training data when ``x_p == x_q`` (modulo the cell) and ``u_p == -u_q`` (the bond is straight
through the shared midpoint), and when the elements agree with the ones seen across that bond in
training (``cp_partner_z``: a metal-N bond of an imidazolate, the C end of a cyanide). The cost of
pairing them is

    |x_q + n L - x_p|^2 + bond_weight |u_p + u_q|^2 + element_penalty (number of mismatches)

with the integer image ``n`` that minimises the first term.

Two phases, both deterministic for given inputs and seed:

1. ``choose_orientations``: a discrete choice of each block's orientation (and conformer) among
   candidates, block by block (coordinate descent), each scored against the other side's CPs
   in their current places plus a clash penalty against other blocks' atoms;
2. ``joint_fit``: rounds of a one-to-one assignment (Hungarian, images kept) alternating with a
   continuous minimisation (L-BFGS, float64) of the assigned pairs' costs plus a clash penalty
   over block rotations, block translations and a bounded symmetric strain of the cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from mof.bonds import neighbour_pairs
from mof.periodic import pair_min_image


@dataclass
class FitParams:
    """Weights and budgets of the fit (``AssemblyParams`` extends it; the fields that are config
    keys take their defaults from the schema's ``assemble`` section)."""

    rounds: int = 4
    robust_start: float = 0.5
    steps: int = 30
    bond_weight: float = 1.0
    element_penalty: float = 4.0
    clash_distance: float = 1.6
    clash_weight: float = 1.0
    max_strain: float = 0.0
    translation_weight: float = 0.01
    translation_iterations: int = 3
    max_translation: float = 4.0
    shift_penalty: float = 0.3


@dataclass
class Placement:
    """Blocks in the cell: for block i, ``atoms = centres[i] + local @ rots[i].T`` (Cartesian)."""

    lattice: np.ndarray  # (3, 3)
    centres: np.ndarray  # (K, 3) Cartesian
    rots: np.ndarray  # (K, 3, 3)
    blocks: list  # K LibraryBlock (the chosen conformers)


def cp_arrays(blocks) -> dict:
    """Flat per-CP bookkeeping of a list of blocks: owner block, local CP position, local own
    atom position, own atomic number, expected partner atomic number (0: unknown)."""
    owner, cp, atom, z, pz = [], [], [], [], []
    for i, b in enumerate(blocks):
        m = len(b.cp_local)
        owner.append(np.full(m, i))
        cp.append(np.asarray(b.cp_local, dtype=float).reshape(-1, 3))
        idx = np.asarray(b.cp_atom, dtype=int)
        atom.append(np.asarray(b.local, dtype=float).reshape(-1, 3)[idx])
        z.append(np.asarray(b.z)[idx])
        pz.append(_partner_z(b))
    return {
        "owner": np.concatenate(owner).astype(int),
        "cp": np.concatenate(cp),
        "atom": np.concatenate(atom),
        "z": np.concatenate(z).astype(int),
        "pz": np.concatenate(pz).astype(int),
    }


def _partner_z(b) -> np.ndarray:
    pz = getattr(b, "cp_partner_z", None)
    if pz is None or len(pz) != len(b.cp_local):
        return np.zeros(len(b.cp_local), dtype=int)
    return np.asarray(pz, dtype=int)


def element_mismatch(z_a, pz_a, z_b, pz_b) -> np.ndarray:
    """(P,), (P,), (Q,), (Q,) -> (P, Q) number of element disagreements (0, 1 or 2) between
    CP a's own atom and what b expects across the bond, and the other way round (0 = unknown
    expectation, never a disagreement)."""
    za, pa = np.asarray(z_a)[:, None], np.asarray(pz_a)[:, None]
    zb, pb = np.asarray(z_b)[None, :], np.asarray(pz_b)[None, :]
    return ((pa > 0) & (zb != pa)).astype(float) + ((pb > 0) & (za != pb)).astype(float)


def pair_costs(x_a, u_a, x_b, u_b, lattice, p: FitParams, mismatch=None):
    """Cost matrix of pairing CPs a with CPs b: (P, Q) costs, (P, Q) CP distances and the
    (P, Q, 3) integer images of b."""
    vec, shift = pair_min_image(x_a, x_b, lattice)
    d2 = np.einsum("pqx,pqx->pq", vec, vec)
    du = u_a[:, None, :] + u_b[None, :, :]
    cost = d2 + p.bond_weight * np.einsum("pqx,pqx->pq", du, du)
    if mismatch is not None:
        cost = cost + p.element_penalty * mismatch
    return cost, np.sqrt(d2), shift


def assign(place: Placement, p: FitParams):
    """One-to-one pairing of node-side and linker-side CPs (Hungarian on ``pair_costs``).

    Returns (a (P,), b (P,), shift (P, 3), distance (P,), angle (P,)): flat CP indices (node
    side, linker side), the image of b, the CP distance of each pair and the angle (degrees)
    between the two half-bonds' directions and a straight bond (0: as in training)."""
    c = cp_arrays(place.blocks)
    x = place.centres[c["owner"]] + np.einsum("nxy,ny->nx", place.rots[c["owner"]], c["cp"])
    y = place.centres[c["owner"]] + np.einsum("nxy,ny->nx", place.rots[c["owner"]], c["atom"])
    u = y - x
    is_node = np.array([b.kind == "node" for b in place.blocks])[c["owner"]]
    ia, ib = np.flatnonzero(is_node), np.flatnonzero(~is_node)
    mism = element_mismatch(c["z"][ia], c["pz"][ia], c["z"][ib], c["pz"][ib])
    cost, dist, shift = pair_costs(x[ia], u[ia], x[ib], u[ib], place.lattice, p, mism)
    rows, cols = linear_sum_assignment(cost)
    a, b = ia[rows], ib[cols]
    cos = -np.einsum("px,px->p", u[a], u[b]) / np.maximum(
        np.linalg.norm(u[a], axis=1) * np.linalg.norm(u[b], axis=1), 1e-12
    )
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return a, b, shift[rows, cols], dist[rows, cols], angle


# ----------------------------------------------------------------------------------------------
# Phase 1: discrete orientations
# ----------------------------------------------------------------------------------------------


def _images_near(points: np.ndarray, lattice: np.ndarray, centre: np.ndarray, radius: float):
    """Indices and Cartesian positions of all periodic images of ``points`` (M, 3) within
    ``radius`` of ``centre``."""
    recip = np.linalg.inv(lattice).T
    spacing = 1.0 / np.linalg.norm(recip, axis=1)
    reach = np.ceil(radius / spacing).astype(int) + 1
    frac = (points - centre) @ np.linalg.inv(lattice)
    frac = frac - np.round(frac)
    rng = [np.arange(-r, r + 1) for r in reach]
    shifts = np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)
    # a shift whose lattice vector is longer than radius + the farthest wrapped point holds no
    # image within radius (triangle inequality): skip it, the result is the same
    rel = frac @ lattice
    far = float(np.sqrt((rel**2).sum(-1).max(initial=0.0)))
    shifts = shifts[np.linalg.norm(shifts @ lattice, axis=1) < radius + far]
    img = rel[None, :, :] + (shifts @ lattice)[:, None, :]  # relative to centre
    d = np.linalg.norm(img, axis=-1)
    s_idx, m_idx = np.nonzero(d < radius)
    return m_idx, img[s_idx, m_idx] + centre


def _score_candidates(cands, centre, x_img, u_o, z_o, pz_o, tree, p: FitParams):
    """Scores (C,) and translations (C, 3) of a block's candidates (conformer, rotation), one
    vectorised evaluation per conformer. Each candidate's CPs are matched to their cheapest
    partner images (``pair_costs`` terms); with ``translation_iterations`` the block also slides
    (at most ``max_translation`` A, at a cost of ``shift_penalty`` A^-2 per CP) to where its
    CPs meet their partners best. The clash term counts atoms of other blocks (``tree`` of their
    images) within ``clash_distance``."""
    scores = np.zeros(len(cands))
    shifts = np.zeros((len(cands), 3))
    groups: dict[int, list[int]] = {}
    for ci, (blk, _) in enumerate(cands):
        groups.setdefault(id(blk), []).append(ci)
    for idx in groups.values():
        blk = cands[idx[0]][0]
        rot = np.stack([cands[ci][1] for ci in idx])  # (C, 3, 3)
        cp_atom = np.asarray(blk.cp_atom, dtype=int)
        x = centre + np.einsum("cxy,my->cmx", rot, blk.cp_local)  # (C, m, 3)
        u = np.einsum("cxy,my->cmx", rot, blk.local[cp_atom] - blk.cp_local)
        du = u[:, :, None, :] + u_o[None, None, :, :]  # (C, m, M, 3)
        mism = element_mismatch(np.asarray(blk.z)[cp_atom], _partner_z(blk), z_o, pz_o)
        fixed = p.bond_weight * np.einsum("cmqx,cmqx->cmq", du, du) + p.element_penalty * mism
        shift = np.zeros((len(idx), 3))
        # the block may slide: its own centre is as uncertain as its neighbours'
        for _ in range(p.translation_iterations):
            d = x[:, :, None, :] + shift[:, None, None, :] - x_img[None, None, :, :]
            nearest = (np.einsum("cmqx,cmqx->cmq", d, d) + fixed).argmin(-1)  # (C, m)
            shift = (x_img[nearest] - x).mean(1)
            norm = np.linalg.norm(shift, axis=1, keepdims=True)
            shift *= np.minimum(1.0, p.max_translation / np.maximum(norm, 1e-12))
        d = x[:, :, None, :] + shift[:, None, None, :] - x_img[None, None, :, :]
        score = (np.einsum("cmqx,cmqx->cmq", d, d) + fixed).min(-1).sum(-1)
        score += p.shift_penalty * x.shape[1] * (shift**2).sum(-1)
        if tree is not None:
            at = centre + shift[:, None, :] + np.einsum("cxy,ny->cnx", rot, blk.local)
            dist, _ = tree.query(at.reshape(-1, 3), k=6, distance_upper_bound=p.clash_distance)
            over = np.clip(p.clash_distance - dist, 0, None)  # inf (no neighbour) -> 0
            score += p.clash_weight * (over**2).reshape(len(idx), -1).sum(-1)
        scores[idx] = score
        shifts[idx] = shift
    return scores, shifts


def _max_norm(points) -> float:
    """Largest norm among (M, 3) points (0 for none)."""
    return float(np.linalg.norm(np.reshape(points, (-1, 3)), axis=1).max(initial=0.0))


def _radii(cands) -> tuple[float, float]:
    """Largest distance of a connection point and of an atom from the centre, over the distinct
    conformers among ``cands`` (a block's candidates share a few conformers)."""
    blocks = {id(b): b for b, _ in cands}.values()
    rad_cp = max((_max_norm(b.cp_local) for b in blocks), default=0.0)
    rad_at = max((_max_norm(b.local) for b in blocks), default=0.0)
    return rad_cp, rad_at


def choose_orientations(place: Placement, candidates: list, order, p: FitParams, sweeps: int = 3):
    """Coordinate descent over blocks: each block in ``order`` takes the candidate
    ``(block, rotation)`` whose CPs best meet the other side's CPs where they are now (cost per
    CP: its cheapest partner under ``pair_costs``) with the least clash against other blocks'
    atoms. Changes ``place`` in place; returns the number of sweeps made."""
    lat = place.lattice
    k = len(place.blocks)
    is_node = np.array([b.kind == "node" for b in place.blocks])
    radii = [_radii(c) for c in candidates]  # once: the loop below reads them per sweep
    for sweep in range(sweeps):
        changed = False
        c = cp_arrays(place.blocks)
        owner = c["owner"]
        x_all = place.centres[owner] + np.einsum("nxy,ny->nx", place.rots[owner], c["cp"])
        y_all = place.centres[owner] + np.einsum("nxy,ny->nx", place.rots[owner], c["atom"])
        atoms = [place.centres[i] + place.blocks[i].local @ place.rots[i].T for i in range(k)]
        atom_owner = np.concatenate([np.full(len(a), i) for i, a in enumerate(atoms)])
        atoms_all = np.concatenate(atoms)
        for i in order:
            cands = candidates[i]
            if len(cands) < 2 or len(place.blocks[i].cp_local) == 0:
                continue
            other = (owner != i) & (is_node[owner] != is_node[i])
            if not other.any():
                continue
            rad_cp, rad_at = radii[i]
            idx, x_img = _images_near(x_all[other], lat, place.centres[i], rad_cp + 6.0)
            u_o = (y_all[other] - x_all[other])[idx]
            z_o, pz_o = c["z"][other][idx], c["pz"][other][idx]
            _, a_img = _images_near(
                atoms_all[atom_owner != i], lat, place.centres[i], rad_at + p.clash_distance
            )
            if len(x_img) == 0:
                continue
            tree = cKDTree(a_img) if len(a_img) else None
            scores, shifts = _score_candidates(
                cands, place.centres[i], x_img, u_o, z_o, pz_o, tree, p
            )
            best = int(np.argmin(scores))
            best_blk, best_rot = cands[best]
            moved = np.linalg.norm(shifts[best]) > 0.05
            swapped = best_blk is not place.blocks[i] or not np.allclose(best_rot, place.rots[i])
            if not (moved or swapped):
                continue
            changed = True
            if len(best_blk.cp_local) != len(place.blocks[i].cp_local):
                raise ValueError("conformers of one block differ in connection points")
            place.centres[i] = place.centres[i] + shifts[best]
            place.blocks[i], place.rots[i] = best_blk, best_rot
            cp_atom = np.asarray(best_blk.cp_atom, dtype=int)
            sel = owner == i
            x_all[sel] = place.centres[i] + best_blk.cp_local @ best_rot.T
            y_all[sel] = place.centres[i] + best_blk.local[cp_atom] @ best_rot.T
            c["z"][sel] = np.asarray(best_blk.z)[cp_atom]
            c["pz"][sel] = _partner_z(best_blk)
            atoms_all[atom_owner == i] = place.centres[i] + best_blk.local @ best_rot.T
        if not changed:
            return sweep + 1
    return sweeps


# ----------------------------------------------------------------------------------------------
# Phase 2: joint continuous fit
# ----------------------------------------------------------------------------------------------


def _rodrigues(w: torch.Tensor) -> torch.Tensor:
    """(K, 3) rotation vectors -> (K, 3, 3) rotation matrices (safe at zero)."""
    theta2 = (w**2).sum(-1, keepdim=True)[..., None]
    theta = torch.sqrt(theta2 + 1e-30)
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-30))
    zero = torch.zeros_like(w[:, 0])
    k = torch.stack(
        [zero, -w[:, 2], w[:, 1], w[:, 2], zero, -w[:, 0], -w[:, 1], w[:, 0], zero], dim=-1
    ).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=w.dtype).expand_as(k)
    return eye + a * k + b * (k @ k)


def _strain(e_raw: torch.Tensor, max_strain: float) -> torch.Tensor:
    """(6,) unbounded parameters -> (3, 3) symmetric strain with entries in (-max, max)."""
    e = max_strain * torch.tanh(e_raw)
    return torch.stack(
        [
            torch.stack([e[0], e[3], e[4]]),
            torch.stack([e[3], e[1], e[5]]),
            torch.stack([e[4], e[5], e[2]]),
        ]
    )


def _clash_pairs(place: Placement, cutoff: float, atom_owner: np.ndarray):
    """Atom pairs of different blocks (or of a block and its own periodic image) closer than
    ``cutoff``: (i (P,), j (P,), shift (P, 3)) with ``vec = atom_j + shift @ L - atom_i`` between
    the unwrapped atoms of ``place``."""
    atoms = np.concatenate(
        [place.centres[i] + blk.local @ place.rots[i].T for i, blk in enumerate(place.blocks)]
    )
    frac = atoms @ np.linalg.inv(place.lattice)
    ii, jj, sh, _ = neighbour_pairs(frac, place.lattice, cutoff)
    # neighbour_pairs wraps fractional coordinates: fold each atom's wrapping into the shift
    wrapped = np.floor(frac).astype(np.int64)
    sh = sh - wrapped[jj] + wrapped[ii]
    keep = (atom_owner[ii] != atom_owner[jj]) | np.any(sh != 0, axis=1)
    return ii[keep], jj[keep], sh[keep]


class _Fit:
    """The continuous degrees of freedom of a placement and its loss (float64 tensors):
    rotation vectors ``w`` (K, 3) applied on top of the start rotations, translations ``t``
    (K, 3, A) and a bounded symmetric strain of the cell (6 parameters). Block centres keep
    their fractional positions in the strained cell, plus their translation."""

    def __init__(self, place: Placement, p: FitParams, lattice_ref: np.ndarray | None = None):
        dt = torch.float64
        self.p, self.blocks = p, place.blocks
        c = cp_arrays(place.blocks)
        self.cp_owner = torch.as_tensor(c["owner"])
        self.cp = torch.as_tensor(c["cp"], dtype=dt)
        self.cp_atom = torch.as_tensor(c["atom"], dtype=dt)
        owner = np.concatenate([np.full(len(b.z), i) for i, b in enumerate(place.blocks)])
        self.atom_owner_np = owner
        self.atom_owner = torch.as_tensor(owner)
        self.local = torch.cat([torch.as_tensor(b.local, dtype=dt) for b in place.blocks])
        # the strain is measured from lattice_ref (the sampled cell), so that the bound holds
        # for the whole assembly however many fits run one after the other
        ref = place.lattice if lattice_ref is None else np.asarray(lattice_ref, dtype=float)
        self.lat0 = torch.as_tensor(ref, dtype=dt)
        self.frac0 = torch.as_tensor(place.centres @ np.linalg.inv(place.lattice), dtype=dt)

        self.r0 = torch.as_tensor(place.rots, dtype=dt)
        k = len(place.blocks)
        self.w = torch.zeros(k, 3, dtype=dt, requires_grad=True)
        self.t = torch.zeros(k, 3, dtype=dt, requires_grad=True)
        e0 = np.linalg.solve(ref, place.lattice) - np.eye(3)
        e0 = 0.5 * (e0 + e0.T)[[0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]]
        bound = max(p.max_strain, 1e-12)
        self.e = torch.as_tensor(np.arctanh(np.clip(e0 / bound, -0.999, 0.999)), dtype=dt)
        self.e.requires_grad_(True)

    def state(self):
        lat = self.lat0
        if self.p.max_strain > 0:
            lat = lat @ (torch.eye(3, dtype=lat.dtype) + _strain(self.e, self.p.max_strain))
        return lat, self.frac0 @ lat + self.t, _rodrigues(self.w) @ self.r0

    def placement(self) -> Placement:
        with torch.no_grad():
            lat, centres, rot = self.state()
        return Placement(
            lat.numpy().copy(), centres.numpy().copy(), rot.numpy().copy(), self.blocks
        )

    def loss(self, pairs, clashes, scale: float) -> torch.Tensor:
        """Assigned pairs' costs (robust with ``scale`` > 0) + clash penalty + a weak pull of
        the translations to zero. ``pairs``: (a, b, shift) tensors; ``clashes``: (i, j, shift)."""
        p = self.p
        lat, centres, rot = self.state()
        ro = rot[self.cp_owner]
        x = centres[self.cp_owner] + torch.einsum("nxy,ny->nx", ro, self.cp)
        u = torch.einsum("nxy,ny->nx", ro, self.cp_atom - self.cp)
        a, b, shift = pairs
        r1 = x[b] + shift @ lat - x[a]
        r2 = u[a] + u[b]
        e = (r1**2).sum(-1) + p.bond_weight * (r2**2).sum(-1)
        if scale > 0:
            e = scale**2 * torch.log1p(e / scale**2)
        loss = e.sum() + p.translation_weight * (self.t**2).sum()
        ii, jj, sh = clashes
        if len(ii):
            at = centres[self.atom_owner] + torch.einsum(
                "nxy,ny->nx", rot[self.atom_owner], self.local
            )
            d = torch.linalg.norm(at[jj] + sh @ lat - at[ii], dim=-1)
            loss = loss + p.clash_weight * (torch.clamp(p.clash_distance - d, min=0) ** 2).sum()
        return loss

    def minimise(self, pairs, clashes, scale: float) -> float:
        # a cell held fixed (max_strain 0) has no strain parameters to move
        params = [self.w, self.t] + ([self.e] if self.p.max_strain > 0 else [])
        opt = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=max(1, self.p.steps),
            line_search_fn="strong_wolfe",
        )

        def closure():
            opt.zero_grad()
            loss = self.loss(pairs, clashes, scale)
            loss.backward()
            return loss

        return float(opt.step(closure).detach())


def joint_fit(
    place: Placement, p: FitParams, lattice_ref: np.ndarray | None = None
) -> tuple[Placement, float]:
    """Rounds of assignment + L-BFGS over rotations, translations and cell strain.

    In all rounds but the last the pair cost is robust (Cauchy, scale growing from
    ``robust_start`` A by 8x over the rounds), so that pairs that fit pull before those that do
    not; the last round is plain least squares. Returns the new placement and the final loss
    (of the last round's assignment and clash pairs). The cell strain is bounded relative to
    ``lattice_ref`` (default: the placement's own cell)."""
    dt = torch.float64
    fit = _Fit(place, p, lattice_ref)
    n = max(1, p.rounds)
    scales = [
        p.robust_start * 8.0 ** (r / max(1, n - 2)) if p.robust_start > 0 else 0.0
        for r in range(n - 1)
    ] + [0.0]
    loss = float("nan")
    for scale in scales:
        cur = fit.placement()
        a, b, shift, _, _ = assign(cur, p)
        pairs = (torch.as_tensor(a), torch.as_tensor(b), torch.as_tensor(shift, dtype=dt))
        ii, jj, sh = _clash_pairs(cur, p.clash_distance + 1.0, fit.atom_owner_np)
        clashes = (torch.as_tensor(ii), torch.as_tensor(jj), torch.as_tensor(sh, dtype=dt))
        loss = fit.minimise(pairs, clashes, scale)
    return fit.placement(), loss
