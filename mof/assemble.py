"""Assembly of a coarse MOF (lattice + Gaussians + building-block identities) back to atoms.

For every block: take its library geometry (atoms and connection points in its principal-axis
frame), put its centre at mu, and start its orientation from the principal axes of its Sigma
(the Gaussian's shape carries the orientation; the eight sign choices of the axes, mirror images
included, are tried block by block, keeping the one whose connection points best meet the
others'). Then
rotations (and small translations) are optimised so that connection points of nodes and linkers
meet across periodic images (a soft nearest-neighbour objective, annealed), the points are paired
one-to-one (Hungarian matching on minimum-image distances), and every pair becomes a bond between
the two atoms that carried them.

Statuses: ``assembled`` when node and linker connection points are equal in number, every pair
is closer than ``max_mismatch`` and no two atoms of different blocks are closer than
``min_atom_distance``; ``partial`` when atoms were placed but one of these fails (the CIF is still
written, with the bonds that formed, and the reasons are recorded; downstream stages take only
``assembled`` structures); ``failed`` when nothing could be built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from mof.elements import symbol
from mof.io import Crystal
from mof.periodic import cart_to_frac, wrap

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
class LibraryBlock:
    """Geometry of one building block in its principal-axis frame."""

    block_id: str
    kind: str
    z: np.ndarray  # (n,)
    local: np.ndarray  # (n, 3)
    cp_local: np.ndarray  # (m, 3)
    cp_atom: np.ndarray  # (m,)
    bonds: np.ndarray  # (b, 2)
    conformers: list[LibraryBlock] = field(default_factory=list)  # other instances to try


@dataclass
class AssemblyParams:
    steps: int = 150
    lr: float = 0.05
    max_mismatch: float = 1.0
    min_atom_distance: float = 0.6
    translation_weight: float = 1.0
    sigma_init: bool = True
    seed: int = 0
    conformers: int = 8
    degenerate_ratio: float = 0.8
    extra_rotations: int = 60
    clash_distance: float = 1.4
    clash_weight: float = 1.0


@dataclass
class AssemblyResult:
    status: str  # "assembled", "partial" or "failed"
    reason: str  # ";"-joined codes: no_node_or_linker, unbalanced_connections,
    #              connections_do_not_meet, atom_overlap, unknown_block, error
    crystal: Crystal | None
    detail: str = ""
    bonds: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    n_atoms: int = 0
    n_cp_node: int = 0
    n_cp_linker: int = 0
    mismatch_mean: float = float("nan")
    mismatch_max: float = float("nan")
    min_atom_distance: float = float("nan")
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


def _min_image_dist(a: np.ndarray, b: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """(P, 3), (Q, 3) Cartesian -> (P, Q) minimum-image distances (rounded fractional)."""
    inv = np.linalg.inv(lattice)
    df = (b[None, :, :] - a[:, None, :]) @ inv
    df -= np.round(df)
    return np.linalg.norm(df @ lattice, axis=-1)


def _rodrigues(w: torch.Tensor) -> torch.Tensor:
    """(K, 3) rotation vectors -> (K, 3, 3) rotation matrices (safe at zero)."""
    theta2 = (w**2).sum(-1, keepdim=True)[..., None]
    theta = torch.sqrt(theta2 + 1e-30)
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-30))
    k = torch.zeros(w.shape[0], 3, 3, dtype=w.dtype)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -w[:, 2], w[:, 1], -w[:, 0]
    k = k - k.transpose(1, 2)
    eye = torch.eye(3, dtype=w.dtype).expand_as(k)
    return eye + a * k + b * (k @ k)


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
    centres = wrap(np.asarray(centres_frac, dtype=float)) @ lattice
    is_node = np.array([b.kind == "node" for b in blocks])
    n_cp_node = int(sum(len(b.cp_local) for b in blocks if b.kind == "node"))
    n_cp_linker = int(sum(len(b.cp_local) for b in blocks if b.kind != "node"))
    base = dict(n_cp_node=n_cp_node, n_cp_linker=n_cp_linker)
    if k == 0 or n_cp_node == 0 or n_cp_linker == 0:
        return AssemblyResult(
            "failed",
            "no_node_or_linker",
            None,
            detail="needs a node and a linker with connection points",
            seconds=time.perf_counter() - t0,
            **base,
        )
    rng = np.random.default_rng(p.seed)
    if p.sigma_init:
        axes = principal_axes(np.asarray(sigmas, dtype=float))
    else:
        axes = _random_rotations(k, rng)

    blocks = list(blocks)  # a block may be replaced by one of its other conformers below
    cp_block = np.concatenate([np.full(len(b.cp_local), i) for i, b in enumerate(blocks)])
    cp_node = is_node[cp_block]

    def cps_of(i: int, rot: np.ndarray, blk: LibraryBlock | None = None) -> np.ndarray:
        return centres[i] + (blk or blocks[i]).cp_local @ rot.T

    # discrete choice of each block's orientation (coordinate descent over blocks): the four
    # proper sign choices of its principal axes; blocks whose Sigma is nearly isotropic in some
    # plane (their axes are not defined by the shape) also try a fixed set of other rotations
    lam = np.linalg.eigvalsh(np.asarray(sigmas, dtype=float))  # ascending
    near_degenerate = (lam[:, 0] / lam[:, 1] > p.degenerate_ratio) | (
        lam[:, 1] / lam[:, 2] > p.degenerate_ratio
    )
    extra = _random_rotations(p.extra_rotations, np.random.default_rng(12345))
    candidates = []  # per block: (conformer, rotation) pairs
    for i in range(k):
        rots_i = [axes[i] * s for s in SIGN_FLIPS]
        if p.sigma_init and near_degenerate[i]:
            rots_i += [axes[i] @ r for r in extra]
        cands = [(blocks[i], r) for r in rots_i]
        if p.sigma_init:  # other conformers with the eight axis sign choices
            cands += [(c, axes[i] * s) for c in blocks[i].conformers for s in SIGN_FLIPS]
        candidates.append(cands)
    rots = np.stack([c[0][1] for c in candidates])
    if p.sigma_init:
        # anisotropic blocks first: their orientation is known best
        order = np.argsort(near_degenerate, kind="stable")
        atom_block = np.concatenate([np.full(len(b.z), i) for i, b in enumerate(blocks)])

        def atoms_of(i: int, rot: np.ndarray, blk: LibraryBlock | None = None) -> np.ndarray:
            return centres[i] + (blk or blocks[i]).local @ rot.T

        for _ in range(3):
            changed = False
            all_cp = np.concatenate([cps_of(i, rots[i]) for i in range(k)])
            all_atoms = np.concatenate([atoms_of(i, rots[i]) for i in range(k)])
            for i in order:
                others = all_cp[(cp_block != i) & (cp_node != is_node[i])]
                if len(others) == 0 or len(blocks[i].cp_local) == 0:
                    continue
                other_atoms = all_atoms[atom_block != i]
                scores = []
                for blk, rot in candidates[i]:
                    d = _min_image_dist(cps_of(i, rot, blk), others, lattice)
                    score = np.sum(np.min(d, axis=1) ** 2)
                    da = _min_image_dist(atoms_of(i, rot, blk), other_atoms, lattice)
                    score += p.clash_weight * np.sum(np.clip(p.clash_distance - da, 0, None) ** 2)
                    scores.append(score)
                best_blk, best_rot = candidates[i][int(np.argmin(scores))]
                if best_blk is not blocks[i] or not np.allclose(best_rot, rots[i]):
                    changed = True
                    blocks[i], rots[i] = best_blk, best_rot
                    all_cp[cp_block == i] = cps_of(i, rots[i])
                    all_atoms[atom_block == i] = atoms_of(i, rots[i])
            if not changed:
                break

    # continuous refinement of rotations and small translations
    dt = torch.float64
    m = max(len(b.cp_local) for b in blocks)
    cp_pad = np.zeros((k, m, 3))
    cp_mask = np.zeros((k, m), dtype=bool)
    for i, b in enumerate(blocks):
        cp_pad[i, : len(b.cp_local)] = b.cp_local
        cp_mask[i, : len(b.cp_local)] = True
    cp_pad_t = torch.as_tensor(cp_pad, dtype=dt)
    flat_mask = torch.as_tensor(cp_mask.reshape(-1))
    node_flat = torch.as_tensor(np.repeat(is_node, m))[flat_mask]
    r0 = torch.as_tensor(rots, dtype=dt)
    c0 = torch.as_tensor(centres, dtype=dt)
    lat = torch.as_tensor(lattice, dtype=dt)
    inv = torch.linalg.inv(lat)
    w = torch.zeros(k, 3, dtype=dt, requires_grad=True)
    delta = torch.zeros(k, 3, dtype=dt, requires_grad=True)
    opt = torch.optim.Adam([w, delta], lr=p.lr)

    def cp_positions(w, delta):
        r = _rodrigues(w) @ r0
        pos = (c0 + delta)[:, None, :] + torch.einsum("kxy,kmy->kmx", r, cp_pad_t)
        return pos.reshape(-1, 3)[flat_mask], r

    for step in range(p.steps):
        tau = 1.0 * (0.01 / 1.0) ** (step / max(1, p.steps - 1))  # A^2, annealed
        pos, _ = cp_positions(w, delta)
        a, b = pos[node_flat], pos[~node_flat]
        df = (b[None] - a[:, None]) @ inv
        df = df - torch.round(df).detach()
        d2 = ((df @ lat) ** 2).sum(-1)
        soft = -tau * (torch.logsumexp(-d2 / tau, 1).mean() + torch.logsumexp(-d2 / tau, 0).mean())
        loss = soft + p.translation_weight * 0.01 * (delta**2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    with torch.no_grad():
        pos, r_final = cp_positions(w, delta)
    rots = r_final.numpy()
    shift = delta.detach().numpy()
    pos = pos.numpy()
    a_idx = np.flatnonzero(node_flat.numpy())
    b_idx = np.flatnonzero(~node_flat.numpy())
    d = _min_image_dist(pos[a_idx], pos[b_idx], lattice)
    rows, cols = linear_sum_assignment(d)
    matched = d[rows, cols]

    # atoms and bonds
    atoms, z, bonds = [], [], []
    atom_offset = np.cumsum([0] + [len(b.z) for b in blocks[:-1]])
    for i, b in enumerate(blocks):
        atoms.append(centres[i] + shift[i] + b.local @ rots[i].T)
        z.append(b.z)
        if len(b.bonds):
            bonds.append(np.asarray(b.bonds).reshape(-1, 2) + atom_offset[i])
    # global index of each connection point's atom, in the flattened cp order
    cp_atom_global = np.concatenate(
        [atom_offset[i] + np.asarray(b.cp_atom, dtype=int) for i, b in enumerate(blocks)]
    )
    bonds.append(np.stack([cp_atom_global[a_idx[rows]], cp_atom_global[b_idx[cols]]], 1))
    cart = np.concatenate(atoms)
    zz = np.concatenate(z)
    crystal = Crystal(
        structure_id, lattice, [symbol(int(v)) for v in zz], wrap(cart_to_frac(cart, lattice))
    )
    bonds_arr = np.concatenate(bonds).astype(np.int64) if bonds else np.zeros((0, 2), np.int64)

    # closest contact between atoms of different blocks
    owner = np.concatenate([np.full(len(b.z), i) for i, b in enumerate(blocks)])
    from mof.bonds import neighbour_pairs

    ii, jj, _, dd = neighbour_pairs(crystal.frac, lattice, 1.2)
    cross = owner[ii] != owner[jj]
    min_contact = float(dd[cross].min()) if cross.any() else float("inf")

    res = AssemblyResult(
        status="assembled",
        reason="",
        crystal=crystal,
        bonds=bonds_arr,
        n_atoms=len(zz),
        mismatch_mean=float(matched.mean()),
        mismatch_max=float(matched.max()),
        min_atom_distance=min_contact,
        **base,
    )
    reasons: list[tuple[str, str]] = []
    if n_cp_node != n_cp_linker:
        reasons.append(
            (
                "unbalanced_connections",
                f"{n_cp_node} connection points on nodes, {n_cp_linker} on linkers",
            )
        )
    if res.mismatch_max > p.max_mismatch:
        reasons.append(
            (
                "connections_do_not_meet",
                f"max mismatch {res.mismatch_max:.2f} A > {p.max_mismatch} A",
            )
        )
    if min_contact < p.min_atom_distance:
        reasons.append(("atom_overlap", f"atoms of different blocks {min_contact:.2f} A apart"))
    if reasons:
        res.status = "partial"
        res.reason = ";".join(r[0] for r in reasons)
        res.detail = "; ".join(r[1] for r in reasons)
    res.seconds = time.perf_counter() - t0
    return res


def _block_from_row(r) -> LibraryBlock:
    from mof.elements import atomic_numbers

    return LibraryBlock(
        block_id=r.block_id,
        kind=r.kind,
        z=atomic_numbers(list(r.elements)),
        local=np.reshape(r.local_coords, (-1, 3)),
        cp_local=np.reshape(r.cp_local, (-1, 3)),
        cp_atom=np.asarray(r.cp_atom, dtype=np.int64),
        bonds=np.reshape(np.asarray(r.bonds, dtype=np.int64), (-1, 2)),
    )


def load_library(building_blocks, instances=None, conformers: int = 0) -> dict[str, LibraryBlock]:
    """Library geometries from ``building_blocks.parquet`` (DataFrame): one representative per
    block. With ``instances`` (``block_instances.parquet`` rows, e.g. of training MOFs only) and
    ``conformers`` > 0, each block also carries up to that many other instances (conformations,
    spread over the MOFs it occurs in) for the assembly to choose from."""
    lib = {r.block_id: _block_from_row(r) for r in building_blocks.itertuples()}
    if instances is not None and conformers > 0 and len(instances):
        for bid, group in instances.groupby("block_id", sort=False):
            if bid not in lib or len(group) < 2:
                continue
            firsts = group.drop_duplicates("mof_id")  # one instance per MOF: most diverse
            pick = firsts.iloc[
                np.linspace(0, len(firsts) - 1, min(conformers, len(firsts))).round().astype(int)
            ]
            lib[bid].conformers = [_block_from_row(r) for r in pick.itertuples()]
    return lib


_LIB: dict[str, LibraryBlock] = {}
_PARAMS = AssemblyParams()


def _init_worker(lib: dict[str, LibraryBlock], params: AssemblyParams) -> None:
    global _LIB, _PARAMS
    _LIB, _PARAMS = lib, params
    torch.set_num_threads(1)


def _assemble_row(row: dict) -> tuple[dict, Crystal | None, np.ndarray | None]:
    sid = row["sample_id"]
    out = {"sample_id": sid, "n_blocks": int(row["n_blocks"])}
    try:
        missing = [b for b in row["block_ids"] if b not in _LIB]
        if missing:
            res = AssemblyResult(
                "failed",
                "unknown_block",
                None,
                detail=f"building blocks not in the library: {missing[:3]}",
            )
        else:
            res = assemble(
                np.reshape(row["lattice"], (3, 3)),
                np.reshape(row["centres_frac"], (-1, 3)),
                np.reshape(row["sigmas"], (-1, 3, 3)),
                [_LIB[b] for b in row["block_ids"]],
                _PARAMS,
                structure_id=sid,
            )
    except Exception as e:  # one bad structure never stops the batch
        res = AssemblyResult("failed", "error", None, detail=f"{type(e).__name__}: {e}")
    out.update(
        status=res.status,
        reason=res.reason,
        detail=res.detail,
        n_atoms=res.n_atoms,
        n_cp_node=res.n_cp_node,
        n_cp_linker=res.n_cp_linker,
        mismatch_mean=res.mismatch_mean,
        mismatch_max=res.mismatch_max,
        min_atom_distance=res.min_atom_distance,
        seconds=res.seconds,
    )
    return out, res.crystal, res.bonds


def params_from_config(cfg: dict) -> AssemblyParams:
    from mof.stage import params_from

    return params_from(AssemblyParams, cfg)


def assemble_table(
    coarse,
    library: dict[str, LibraryBlock],
    params: AssemblyParams,
    cif_dir,
    processes: int = 1,
    progress: bool = True,
):
    """Assemble every row of a coarse table (``sample_id``, ``n_blocks``, ``lattice``,
    ``centres_frac``, ``sigmas``, ``block_ids``); write one CIF (with bonds) per structure that
    got atoms (assembled or partial) into ``cif_dir``; return the per-structure table:
    sample_id, n_blocks, status, reason (codes), detail, n_atoms, n_cp_node, n_cp_linker,
    mismatch_mean, mismatch_max (A), min_atom_distance (A), seconds, cif (file name or null)."""
    from pathlib import Path

    import pandas as pd

    from mof.io import write_cif
    from mof.parallel import progress_map

    cif_dir = Path(cif_dir)
    cif_dir.mkdir(parents=True, exist_ok=True)
    cols = ["sample_id", "n_blocks", "lattice", "centres_frac", "sigmas", "block_ids"]
    rows = coarse[cols].to_dict("records")
    results = progress_map(
        _assemble_row,
        rows,
        processes,
        "assemble: structures",
        _init_worker,
        (library, params),
        min_parallel=4,
        progress=progress,
    )
    table = []
    for out, crystal, bonds in results:
        out["cif"] = None
        if crystal is not None:
            path = cif_dir / f"{out['sample_id']}.cif"
            write_cif(path, crystal, bonds)
            out["cif"] = path.name
        table.append(out)
    return pd.DataFrame(table)


def run(
    coarse_path: str,
    blocks_path: str,
    table_path: str,
    cif_dir: str,
    cfg: dict,
    processes: int = 1,
    say=print,
    instances_path: str | None = None,
) -> None:
    """The assemble_mofs stage. Other conformers of each block come from the block instances of
    training MOFs (``instances_path``, block_instances.parquet)."""
    from collections import Counter

    from mof.io import read_table, write_table
    from mof.stage import reason_counts

    coarse = read_table(coarse_path)
    params = params_from_config(cfg)
    inst = None
    if instances_path and params.conformers > 0:
        inst = read_table(
            instances_path,
            columns=[
                "mof_id",
                "block_id",
                "kind",
                "split",
                "elements",
                "local_coords",
                "cp_local",
                "cp_atom",
                "bonds",
            ],
        )
        inst = inst[inst["split"] == "train"]
    lib = load_library(read_table(blocks_path), inst, params.conformers)
    table = assemble_table(coarse, lib, params, cif_dir, processes)
    write_table(table, table_path)
    status = Counter(table["status"])
    failed = table.loc[table["status"] != "assembled", "reason"]
    reasons = reason_counts(failed, most=None)
    say(
        f"[assemble_mofs] {len(coarse)} in -> {status['assembled']} assembled, "
        f"{status['partial']} partial, {status['failed']} failed (reasons: {reasons}); "
        f"median mismatch {table['mismatch_mean'].median():.2f} A, "
        f"{table['seconds'].median():.2f} s per structure"
    )
