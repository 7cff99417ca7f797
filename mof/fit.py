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
2. ``mof.refine.joint_fit``: rounds of a one-to-one assignment (``assign``: Hungarian, images
   kept) alternating with a continuous minimisation (L-BFGS, float64) of the assigned pairs'
   costs plus a clash penalty over block rotations, block translations and a bounded symmetric
   strain of the cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

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
    torsions: bool = False
    torsion_weight: float = 0.5
    torsion_min_heavy: int = 2
    joint_weight: float = 10.0


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


class _Images:
    """Periodic images near a point, for one lattice (3, 3): its inverse and the shift grids are
    computed once and reused by every query."""

    def __init__(self, lattice: np.ndarray):
        self.lattice = lattice
        self.inv = np.linalg.inv(lattice)
        self.spacing = 1.0 / np.linalg.norm(self.inv.T, axis=1)  # between lattice planes
        self._grids: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _grid(self, reach: tuple) -> tuple[np.ndarray, np.ndarray]:
        """(S, 3) integer shifts within ``reach`` per axis and the lengths (S,) of their vectors."""
        if reach not in self._grids:
            rng = [np.arange(-r, r + 1) for r in reach]
            shifts = np.stack(np.meshgrid(*rng, indexing="ij"), axis=-1).reshape(-1, 3)
            self._grids[reach] = shifts, np.linalg.norm(shifts @ self.lattice, axis=1)
        return self._grids[reach]

    def near(self, points: np.ndarray, centre: np.ndarray, radius: float):
        """Indices (N,) and Cartesian positions (N, 3) of all periodic images of ``points``
        (M, 3) within ``radius`` of ``centre`` (3,)."""
        reach = tuple(int(r) for r in np.ceil(radius / self.spacing).astype(int) + 1)
        frac = (points - centre) @ self.inv
        frac = frac - np.round(frac)
        shifts, length = self._grid(reach)
        # a shift whose lattice vector is longer than radius + the farthest wrapped point holds
        # no image within radius (triangle inequality): skip it, the result is the same
        rel = frac @ self.lattice
        rel2 = (rel**2).sum(-1)  # (M,)
        far = float(np.sqrt(rel2.max(initial=0.0)))
        shifts = shifts[length < radius + far]
        step = shifts @ self.lattice  # (S, 3)
        # squared distances of the (S, M) images to the centre as |rel|^2 + 2 rel.step + |step|^2
        d2 = rel2[None, :] + 2 * (step @ rel.T) + (step**2).sum(-1)[:, None]
        s_idx, m_idx = np.nonzero(d2 < radius**2)
        return m_idx, rel[m_idx] + step[s_idx] + centre


def _images_near(points: np.ndarray, lattice: np.ndarray, centre: np.ndarray, radius: float):
    """Indices and Cartesian positions of all periodic images of ``points`` (M, 3) within
    ``radius`` of ``centre`` (one query of ``_Images``)."""
    return _Images(lattice).near(points, centre, radius)


class _Candidates:
    """A block's candidates ``(conformer, rotation)`` as arrays, computed once per orientation
    search and read by every sweep: C candidates over G distinct conformers with m CPs each."""

    def __init__(self, cands: list):
        conf: dict[int, int] = {}
        uniq = []
        for blk, _ in cands:
            if id(blk) not in conf:
                conf[id(blk)] = len(uniq)
                uniq.append(blk)
        if len({len(b.cp_local) for b in uniq}) > 1:
            raise ValueError("conformers of one block differ in connection points")
        self.cands = cands
        self.ci = np.array([conf[id(blk)] for blk, _ in cands])  # (C,) conformer of each
        self.rot_t = np.stack([r for _, r in cands]).transpose(0, 2, 1)  # (C, 3, 3): v @ R.T
        cp = np.stack([np.asarray(b.cp_local, dtype=float) for b in uniq])  # (G, m, 3)
        atom = [np.asarray(b.cp_atom, dtype=int) for b in uniq]
        half = np.stack([np.asarray(b.local)[a] for b, a in zip(uniq, atom)]) - cp
        self.x_rel = cp[self.ci] @ self.rot_t  # (C, m, 3) CPs relative to the centre
        self.u = half[self.ci] @ self.rot_t  # (C, m, 3) half-bonds
        self.u2 = (self.u**2).sum(-1)  # (C, m)
        # the elements at the CPs: conformers of one block share them, so the element term is
        # computed once per distinct (own, expected partner) pattern
        pattern: dict[tuple, int] = {}
        self.z, self.pz, group = [], [], []
        for b, a in zip(uniq, atom):
            z, pz = np.asarray(b.z)[a], _partner_z(b)
            key = (tuple(z.tolist()), tuple(pz.tolist()))
            if key not in pattern:
                pattern[key] = len(self.z)
                self.z.append(z)
                self.pz.append(pz)
            group.append(pattern[key])
        self.group = np.asarray(group)[self.ci]  # (C,) element pattern of each candidate
        self.local = [np.asarray(b.local) for b in uniq]
        self._atoms: dict[int, np.ndarray] = {}
        self.rad_cp = max((_max_norm(b.cp_local) for b in uniq), default=0.0)
        self.rad_at = max((_max_norm(b.local) for b in uniq), default=0.0)

    def __len__(self) -> int:
        return len(self.cands)

    def atoms(self, c: int) -> np.ndarray:
        """(n, 3) candidate c's atoms relative to the centre (computed when first asked)."""
        if c not in self._atoms:
            self._atoms[c] = self.local[self.ci[c]] @ self.rot_t[c]
        return self._atoms[c]


def _score_candidates(cands, centre, x_img, u_o, z_o, pz_o, tree, p: FitParams):
    """Scores (C,) and translations (C, 3) of a block's candidates (a list of (conformer,
    rotation) or their ``_Candidates``), all in one vectorised evaluation (squared distances
    expanded into matrix products). Each candidate's CPs are matched to their cheapest partner
    images (``pair_costs`` terms); with ``translation_iterations`` the block also slides (at most
    ``max_translation`` A, at a cost of ``shift_penalty`` A^-2 per CP) to where its CPs meet their
    partners best. The clash term counts atoms of other blocks (``tree`` of their images) within
    ``clash_distance``; it is added only where it can decide the choice, so a candidate that
    cannot win keeps its CP part (a lower bound above the lowest score)."""
    arr = cands if isinstance(cands, _Candidates) else _Candidates(cands)
    mism = np.stack(
        [element_mismatch(z, pz, z_o, pz_o) for z, pz in zip(arr.z, arr.pz)]
    )  # (patterns, m, M)
    x = centre + arr.x_rel  # (C, m, 3)
    u = arr.u
    # |u + u_o|^2 and |y - x_img|^2 as |a|^2 + |b|^2 + 2 a.b: (C, m, M) without a (C, m, M, 3)
    bond2 = arr.u2[..., None] + (u_o**2).sum(-1) + 2 * (u @ u_o.T)
    fixed = p.bond_weight * bond2 + p.element_penalty * mism[arr.group]
    img2 = (x_img**2).sum(-1)

    def cost(shift):
        y = x + shift[:, None, :]
        return (y**2).sum(-1)[..., None] + img2 - 2 * (y @ x_img.T) + fixed

    shift = np.zeros((len(arr), 3))
    # the block may slide: its own centre is as uncertain as its neighbours'. Each CP's nearest
    # partner does not depend on |y|^2, which the cost adds to a whole row: left out here
    rest, x_img2 = img2 + fixed, 2 * x_img
    for _ in range(p.translation_iterations):
        nearest = (rest - (x + shift[:, None, :]) @ x_img2.T).argmin(-1)  # (C, m)
        shift = (x_img[nearest] - x).mean(1)
        norm = np.linalg.norm(shift, axis=1, keepdims=True)
        shift *= np.minimum(1.0, p.max_translation / np.maximum(norm, 1e-12))
    scores = cost(shift).min(-1).sum(-1)
    scores += p.shift_penalty * x.shape[1] * (shift**2).sum(-1)
    if tree is not None:
        # the clash term is never negative: a candidate whose CP score alone exceeds the best
        # total so far cannot win. Candidates are visited by CP score, a few at a time, and the
        # rest keep their CP score (a lower bound above the best): the argmin is unchanged.
        order = np.argsort(scores, kind="stable")
        best = np.inf
        for first in range(0, len(order), 8):
            batch = order[first : first + 8]
            batch = batch[scores[batch] <= best]
            if len(batch) == 0:
                break
            at = [centre + shift[c] + arr.atoms(c) for c in batch]
            dist, _ = tree.query(np.concatenate(at), k=6, distance_upper_bound=p.clash_distance)
            over = np.clip(p.clash_distance - dist, 0, None)  # inf (no neighbour) -> 0
            ends = np.cumsum([len(a) for a in at])
            start = 0
            for c, end in zip(batch, ends):
                scores[c] += p.clash_weight * (over[start:end] ** 2).reshape(-1).sum()
                start = end
            best = min(best, scores[batch].min())
    return scores, shift


def _max_norm(points) -> float:
    """Largest norm among (M, 3) points (0 for none)."""
    return float(np.linalg.norm(np.reshape(points, (-1, 3)), axis=1).max(initial=0.0))


def choose_orientations(place: Placement, candidates: list, order, p: FitParams, sweeps: int = 3):
    """Coordinate descent over blocks: each block in ``order`` takes the candidate
    ``(block, rotation)`` whose CPs best meet the other side's CPs where they are now (cost per
    CP: its cheapest partner under ``pair_costs``) with the least clash against other blocks'
    atoms. Changes ``place`` in place (new ``centres`` and ``rots`` arrays: a candidate may be a
    view of the placement's own rotation, and must not change while the search runs); returns
    the number of sweeps made."""
    place.centres = np.array(place.centres, dtype=float)
    place.rots = np.array(place.rots, dtype=float)
    images = _Images(place.lattice)
    k = len(place.blocks)
    is_node = np.array([b.kind == "node" for b in place.blocks])
    arrays: list[_Candidates | None] = [None] * k  # built once, read by every sweep
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
            if arrays[i] is None:
                arrays[i] = _Candidates(cands)
            arr = arrays[i]
            idx, x_img = images.near(x_all[other], place.centres[i], arr.rad_cp + 6.0)
            u_o = (y_all[other] - x_all[other])[idx]
            z_o, pz_o = c["z"][other][idx], c["pz"][other][idx]
            _, a_img = images.near(
                atoms_all[atom_owner != i], place.centres[i], arr.rad_at + p.clash_distance
            )
            if len(x_img) == 0:
                continue
            tree = cKDTree(a_img) if len(a_img) else None
            scores, shifts = _score_candidates(
                arr, place.centres[i], x_img, u_o, z_o, pz_o, tree, p
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
