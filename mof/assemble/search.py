"""One coarse MOF to atoms: the starts of the search, the checks of each status and the built
crystal (what they do: :mod:`mof.assemble`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from mof.crystal import Crystal
from mof.elements import symbol
from mof.fit import FitParams, Placement, assign, choose_orientations
from mof.library import LibraryBlock
from mof.periodic import cart_to_frac, wrap
from mof.refine import joint_fit

# sign choices of the principal axes: the four proper ones, then the four improper ones (mirror
# images: a block's graph identity does not fix its handedness, and centrosymmetric MOFs hold
# both mirror-image conformers of a twisted linker)
SIGN_FLIPS = np.array(
    [
        [1, 1, 1],
        [-1, -1, 1],
        [-1, 1, -1],
        [1, -1, -1],
        [-1, -1, -1],
        [1, 1, -1],
        [1, -1, 1],
        [-1, 1, 1],
    ],
    dtype=float,
)


@dataclass
class AssemblyParams(FitParams):
    """Field names are the keys of the ``assemble`` config section (defaults from its schema);
    the fit's own weights and budgets are inherited from ``FitParams``."""

    max_mismatch: float = 1.0
    max_bond_angle: float = 60.0
    min_atom_distance: float = 0.6
    handoff: bool = True
    sigma_init: bool = True
    conformers: int = 8
    extra_rotations: int = 60
    starts: int = 24
    anchor_weight: float = 5.0
    anchor_tolerance: float = 0.5
    cycles: int = 2
    seed: int = 0
    degenerate_ratio: float = 0.8


@dataclass
class AssemblyResult:
    status: str  # "assembled", "bonded", "partial" or "failed"
    reason: str  # ";"-joined codes: no_node_or_linker, unbalanced_connections,
    #              connections_do_not_meet, bonds_bent, atom_overlap, unknown_block, error
    crystal: Crystal | None
    detail: str = ""
    bonds: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    n_atoms: int = 0
    n_cp_node: int = 0
    n_cp_linker: int = 0
    mismatch_mean: float = float("nan")
    mismatch_max: float = float("nan")
    bond_angle_max: float = float("nan")  # degrees, worst bent bond across a pair of blocks
    min_atom_distance: float = float("nan")
    repair_rms: float = float("nan")  # A, RMS displacement of block centres by the fit
    repair_max: float = float("nan")  # A, largest displacement of a block centre
    cell_strain: float = float("nan")  # largest principal strain of the cell (fraction)
    seconds: float = 0.0


def _random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    det = np.linalg.det(q)
    q[det < 0, :, 0] *= -1
    return q


def principal_axes(sigma: np.ndarray) -> np.ndarray:
    """(K, 3, 3) SPD -> (K, 3, 3) proper rotations whose columns are the eigenvectors, largest
    eigenvalue first."""
    _, v = np.linalg.eigh(sigma)
    v = v[..., ::-1].copy()
    det = np.linalg.det(v)
    v[det < 0, :, 2] *= -1
    return v


def _failed(reason: str, detail: str, t0: float, **base) -> AssemblyResult:
    return AssemblyResult(
        "failed", reason, None, detail=detail, seconds=time.perf_counter() - t0, **base
    )


def _candidates(blocks, axes, sigmas, p: AssemblyParams, rng) -> tuple[list, np.ndarray]:
    """Per block, the (conformer, rotation) pairs to choose from; the blocks in the order the
    discrete search visits them (anisotropic ones first: their orientation is known best)."""
    lam = np.linalg.eigvalsh(np.asarray(sigmas, dtype=float))  # ascending
    near_degenerate = (lam[:, 0] / lam[:, 1] > p.degenerate_ratio) | (
        lam[:, 1] / lam[:, 2] > p.degenerate_ratio
    )
    extra = _random_rotations(p.extra_rotations, rng) if p.extra_rotations else np.zeros((0, 3, 3))
    candidates = []
    for i, blk in enumerate(blocks):
        rots = [axes[i] * s for s in SIGN_FLIPS]
        if near_degenerate[i]:
            rots += [axes[i] @ r for r in extra]
        cands = [(blk, r) for r in rots]
        cands += [(c, axes[i] * s) for c in blk.conformers for s in SIGN_FLIPS]
        candidates.append(cands)
    return candidates, np.argsort(near_degenerate, kind="stable")


def assemble(
    lattice: np.ndarray,
    centres_frac: np.ndarray,
    sigmas: np.ndarray,
    blocks: list[LibraryBlock],
    params: AssemblyParams | None = None,
    structure_id: str = "sample",
) -> AssemblyResult:
    """Assemble one coarse MOF. Never raises for chemistry reasons: failures are results."""
    p = params or AssemblyParams()
    t0 = time.perf_counter()
    lattice = np.asarray(lattice, dtype=float)
    k = len(blocks)
    centres = wrap(np.asarray(centres_frac, dtype=float).reshape(-1, 3)) @ lattice
    n_cp_node = int(sum(len(b.cp_local) for b in blocks if b.kind == "node"))
    n_cp_linker = int(sum(len(b.cp_local) for b in blocks if b.kind != "node"))
    base = dict(n_cp_node=n_cp_node, n_cp_linker=n_cp_linker)
    if k == 0 or n_cp_node == 0 or n_cp_linker == 0:
        return _failed(
            "no_node_or_linker", "needs a node and a linker with connection points", t0, **base
        )
    if n_cp_node != n_cp_linker:
        detail = f"{n_cp_node} connection points on nodes, {n_cp_linker} on linkers"
        return _failed("unbalanced_connections", detail, t0, **base)
    rng = np.random.default_rng(p.seed)
    sigmas = np.asarray(sigmas, dtype=float).reshape(-1, 3, 3)
    sigma_axes = principal_axes(sigmas) if p.sigma_init else None  # the same for every start
    best, best_key = None, (3, np.inf)
    for start, mode in enumerate(_start_modes(p)):
        if mode == "anchored":
            sp = replace(p, translation_iterations=0, translation_weight=p.anchor_weight)
        elif mode == "given":
            sp = replace(p, translation_iterations=0)
        else:
            sp = p
        if mode != "given" or start == 0:  # "given" after "anchored" shares its candidates
            if p.sigma_init:
                drawn, order = _candidates(blocks, sigma_axes, sigmas, p, rng)
                if mode == "other":
                    order = rng.permutation(order)
            else:
                axes = _random_rotations(k, rng)
                drawn, order = [[(b, axes[i])] for i, b in enumerate(blocks)], np.arange(k)
        candidates = drawn
        rots0 = np.stack([c[0][1] for c in candidates])
        place = Placement(lattice, centres.copy(), rots0, list(blocks))
        for cycle in range(max(1, p.cycles)):
            if cycle > 0:  # the fitted orientation stays a candidate: a cycle never makes it worse
                # (choose_orientations writes into new arrays, so these views stay as they are)
                candidates = [
                    c + [(place.blocks[i], place.rots[i])] for i, c in enumerate(candidates)
                ]
            choose_orientations(place, candidates, order, sp)
            place, loss = joint_fit(place, sp, lattice)
        if mode == "anchored":
            # kept, and the search ends, when the blocks fit where they were sampled: every
            # gap within ``anchor_tolerance``, no bond bent past ``max_bond_angle``; else forgotten
            if _n_misfits(place, replace(p, max_mismatch=p.anchor_tolerance)) == 0:
                best = place
                break
            continue
        # the start whose fit passes the most checks of ``assembled``, then the lowest loss;
        # after "given" and "slide", the search goes on only while no start has passed them all
        key = (_n_misfits(place, p), loss)
        if best is None or key < best_key:
            best, best_key = place, key
        if mode != "given" and best_key[0] == 0:
            break
    return _build(best, centres, lattice, p, structure_id, t0, base)


def _start_modes(p: AssemblyParams) -> list[str]:
    """The starts of the search, in order (at most ``starts``): ``anchored`` (orientations chosen
    at the given centres, blocks held near them by ``anchor_weight``; only when that pull is
    stronger than the others' ``translation_weight``), ``given`` (the same choice, blocks free to
    move in the fit), ``slide`` (blocks slide to their partners while choosing), then ``other``
    (sliding, other visiting orders and other extra rotations)."""
    modes = ["anchored"] if p.anchor_weight > p.translation_weight and p.starts > 1 else []
    modes += ["given", "slide"]
    modes += ["other"] * max(0, p.starts - len(modes))
    return modes[: max(1, p.starts)]


def _connection_misfits(dist, angle, p: AssemblyParams) -> list[tuple[str, str]]:
    """The connection checks of ``assembled`` that the assigned pairs fail, as (code, detail):
    gaps within ``max_mismatch`` (``dist`` (P,), A) and bonds bent by at most ``max_bond_angle``
    (``angle`` (P,), degrees)."""
    out = []
    if dist.max() > p.max_mismatch:
        out.append(
            ("connections_do_not_meet", f"max mismatch {dist.max():.2f} A > {p.max_mismatch} A")
        )
    if angle.max() > p.max_bond_angle:
        out.append(
            (
                "bonds_bent",
                f"a bond between blocks bent by {angle.max():.0f} degrees > {p.max_bond_angle:.0f}",
            )
        )
    return out


def _n_misfits(place: Placement, p: AssemblyParams) -> int:
    """How many of the connection checks of ``assembled`` a placement fails: 0, 1 or 2."""
    _, _, _, dist, angle = assign(place, p)
    return len(_connection_misfits(dist, angle, p))


def _build(place: Placement, centres0, lattice0, p: AssemblyParams, sid: str, t0, base):
    """Atoms, bonds and status of a fitted placement."""
    from mof.bonds import neighbour_pairs

    blocks = place.blocks
    a, b, _, dist, angle = assign(place, p)
    atom_offset = np.cumsum([0] + [len(blk.z) for blk in blocks[:-1]])
    cp_atom_global = np.concatenate(
        [atom_offset[i] + np.asarray(blk.cp_atom, dtype=int) for i, blk in enumerate(blocks)]
    )
    atoms, z, bonds = [], [], []
    for i, blk in enumerate(blocks):
        atoms.append(place.centres[i] + blk.local @ place.rots[i].T)
        z.append(blk.z)
        if len(blk.bonds):
            bonds.append(np.asarray(blk.bonds).reshape(-1, 2) + atom_offset[i])
    bonds.append(np.stack([cp_atom_global[a], cp_atom_global[b]], 1))
    cart = np.concatenate(atoms)
    zz = np.concatenate(z)
    crystal = Crystal(
        sid, place.lattice, [symbol(int(v)) for v in zz], wrap(cart_to_frac(cart, place.lattice))
    )
    owner = np.concatenate([np.full(len(blk.z), i) for i, blk in enumerate(blocks)])
    frac = cart_to_frac(cart, place.lattice)
    ii, jj, sh, dd = neighbour_pairs(frac, place.lattice, 1.2)
    # the shift between the unwrapped atoms: a block's atoms against its own periodic image count
    sh = sh - np.floor(frac[jj]).astype(int) + np.floor(frac[ii]).astype(int)
    cross = (owner[ii] != owner[jj]) | np.any(sh != 0, axis=1)
    min_contact = float(dd[cross].min()) if cross.any() else float("inf")
    # how far the fit moved things: block centres (with the strained cell) and the cell itself
    frac0 = centres0 @ np.linalg.inv(lattice0)
    moved = np.linalg.norm(place.centres - frac0 @ lattice0, axis=1)
    strain = np.linalg.solve(lattice0, place.lattice) - np.eye(3)
    strain = 0.5 * (strain + strain.T)
    res = AssemblyResult(
        status="assembled",
        reason="",
        crystal=crystal,
        bonds=np.concatenate(bonds).astype(np.int64),
        n_atoms=len(zz),
        mismatch_mean=float(dist.mean()),
        mismatch_max=float(dist.max()),
        bond_angle_max=float(angle.max()),
        min_atom_distance=min_contact,
        repair_rms=float(np.sqrt(np.mean(moved**2))),
        repair_max=float(moved.max()),
        cell_strain=float(np.abs(np.linalg.eigvalsh(strain)).max()),
        **base,
    )
    reasons = _connection_misfits(dist, angle, p)
    if min_contact < p.min_atom_distance:
        reasons.append(("atom_overlap", f"atoms of different blocks {min_contact:.2f} A apart"))
    if reasons:
        res.status = "bonded" if p.handoff else "partial"
        res.reason = ";".join(r[0] for r in reasons)
        res.detail = "; ".join(r[1] for r in reasons)
    res.seconds = time.perf_counter() - t0
    return res
