"""Decomposition of a MOF into metal nodes and organic linkers (the metal-oxo convention).

Convention (as in MOFid, which MOFDiff used): a *node atom* is a metal, an oxygen whose bonded
neighbours are all metals or hydrogens (with at least one metal: oxo, hydroxo, aqua ligands), or a
hydrogen bonded to such an oxygen. Every other atom is organic. The bonds between node atoms and
organic atoms are cut; the connected components of the node atoms are the metal nodes, those of
the organic atoms the linkers. Each cut bond leaves one connection point on each side, at the
bond's midpoint.

Components are searched with their periodic image offsets tracked, so that a block that crosses
the cell boundary is made whole; the rank of its cycle vectors is its periodic dimension (0 finite,
1 rod, 2 layer, 3 framework). Only finite blocks can be Gaussians: a structure with an infinite
component is rejected, as is one with an isolated molecule (a component with no cut bond).

Rejections raise :class:`Rejection` with a reason code (see ``REJECT_REASONS``) and a detail.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from mof.bonds import BondParams, find_bonds
from mof.crystal import Crystal, hill_formula
from mof.elements import CARBON, HYDROGEN, NITROGEN, OXYGEN, atomic_numbers, is_metal, symbol
from mof.gaussian import principal_frame
from mof.identity import block_id, block_smiles
from mof.periodic import cart_to_frac, wrap

REJECT_REASONS = {
    "parse_error": "the CIF could not be read",
    "multiple_data_blocks": "the CIF holds more than one data block",
    "disorder": "partial occupancies, or flagged as disordered by the source",
    "no_metal": "no metal atom in the cell",
    "geometry_anomaly": "atoms closer than 0.7 A, O-O bonds, or C/N with more than 4 neighbours",
    "isolated_molecule": "a molecule or ion bonded to nothing else (solvent, counter-ion)",
    "periodic_component": "a node or linker that is infinite (rod, layer or 3D net)",
    "no_linker": "metal-containing parts only, nothing organic to connect them",
    "no_node": "no metal node bonded to the organic parts",
    "too_many_blocks": "more building blocks than preprocess.max_blocks",
    "too_many_atoms": "more atoms than preprocess.max_atoms",
    "error": "an unexpected error in decomposition (see detail)",
}


class Rejection(Exception):
    """A structure that is not decomposed, with a reason code and a human-readable detail."""

    def __init__(self, reason: str, detail: str = ""):
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DecomposeParams:
    bonds: BondParams = field(default_factory=BondParams)
    sigma_floor: float = 0.05
    max_blocks: int = 50
    max_atoms: int = 1000
    occupancy_tolerance: float = 0.99
    drop_isolated_molecules: bool = False


@dataclass
class BuildingBlock:
    """One building-block instance inside one MOF.

    Attributes:
        kind: "node" or "linker".
        atom_indices: (n,) indices of its atoms in the parent structure.
        z: (n,) atomic numbers.
        local: (n, 3) atom positions in the local (principal-axis) frame, Angstrom.
        cp_local: (m, 3) connection points in the local frame, Angstrom.
        cp_atom: (m,) local index of the atom each connection point is attached to.
        cp_partner: (m, 2) (block index, connection-point index) of the matching point.
        cp_partner_z: (m,) atomic number of the atom across each cut bond.
        centre_frac: (3,) centre in fractional coordinates, wrapped to [0, 1).
        rotation: (3, 3) R, columns = principal axes; cart = centre_cart + local @ R.T.
        sigma: (3, 3) SPD shape in Angstrom^2 (Cartesian).
        bonds: intra-block bonds as local index pairs.
        smiles, block_id: graph identity.
    """

    kind: str
    atom_indices: np.ndarray
    z: np.ndarray
    local: np.ndarray
    cp_local: np.ndarray
    cp_atom: np.ndarray
    cp_partner: np.ndarray
    cp_partner_z: np.ndarray
    centre_frac: np.ndarray
    rotation: np.ndarray
    sigma: np.ndarray
    bonds: list[tuple[int, int]]
    smiles: str = ""
    block_id: str = ""

    @property
    def n_atoms(self) -> int:
        return len(self.z)

    @property
    def n_connections(self) -> int:
        return len(self.cp_local)

    @property
    def elements(self) -> list[str]:
        return [symbol(int(v)) for v in self.z]


@dataclass
class Decomposition:
    """A decomposed MOF: its lattice and its building blocks."""

    id: str
    lattice: np.ndarray
    blocks: list[BuildingBlock]
    n_atoms: int
    n_dropped_molecules: int = 0

    def reconstruct(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Put every block back at its pose.

        Returns:
            (atom_indices (N,), z (N,), frac (N, 3)) with frac wrapped to [0, 1).
        """
        idx, zs, fr = [], [], []
        for b in self.blocks:
            cart = b.centre_frac @ self.lattice + b.local @ b.rotation.T
            idx.append(b.atom_indices)
            zs.append(b.z)
            fr.append(wrap(cart_to_frac(cart, self.lattice)))
        return np.concatenate(idx), np.concatenate(zs), np.concatenate(fr)

    def connection_points_frac(self) -> tuple[np.ndarray, np.ndarray]:
        """(P, 2) (block, cp) labels and (P, 3) wrapped fractional positions of all points."""
        labels, pos = [], []
        for bi, b in enumerate(self.blocks):
            cart = b.centre_frac @ self.lattice + b.cp_local @ b.rotation.T
            pos.append(wrap(cart_to_frac(cart, self.lattice)))
            labels.append(np.stack([np.full(b.n_connections, bi), np.arange(b.n_connections)], 1))
        return np.concatenate(labels), np.concatenate(pos)


def node_atom_mask(z: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """(N,) bool: atoms that belong to metal nodes under the metal-oxo convention."""
    n = len(z)
    metal = is_metal(z)
    nbr_metal = np.zeros(n, dtype=int)
    nbr_other = np.zeros(n, dtype=int)  # neighbours that are neither metal nor H
    for a, b in ((i, j), (j, i)):
        np.add.at(nbr_metal, a, metal[b])
        np.add.at(nbr_other, a, ~metal[b] & (z[b] != HYDROGEN))
    oxo = (z == OXYGEN) & (nbr_metal > 0) & (nbr_other == 0)
    node = metal | oxo
    h_on_oxo = np.zeros(n, dtype=bool)
    for a, b in ((i, j), (j, i)):
        sel = (z[a] == HYDROGEN) & oxo[b]
        h_on_oxo[a[sel]] = True
    return node | h_on_oxo


def _components(
    n: int, i: np.ndarray, j: np.ndarray, shift: np.ndarray, uncut: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Connected components over the uncut bonds, with image offsets and periodic dimension.

    Returns:
        comp (N,) component label, offset (N, 3) int image offset of each atom so that
        ``frac + offset`` is contiguous within its component, dims: periodic dimension per label.
    """
    adj: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n)]
    for a, b, s in zip(i[uncut], j[uncut], shift[uncut]):
        adj[a].append((b, s))
        adj[b].append((a, -s))
    comp = np.full(n, -1, dtype=np.int64)
    offset = np.zeros((n, 3), dtype=np.int64)
    dims: list[int] = []
    for start in range(n):
        if comp[start] >= 0:
            continue
        label = len(dims)
        comp[start] = label
        cycles: list[np.ndarray] = []
        queue = deque([start])
        while queue:
            a = queue.popleft()
            for b, s in adj[a]:
                want = offset[a] + s
                if comp[b] < 0:
                    comp[b] = label
                    offset[b] = want
                    queue.append(b)
                elif np.any(offset[b] != want):
                    cycles.append(want - offset[b])
        dims.append(int(np.linalg.matrix_rank(np.array(cycles))) if cycles else 0)
    return comp, offset, dims


def _check_geometry(z: np.ndarray, bonds, anomalies: dict[str, int]) -> None:
    if anomalies["close_contacts"]:
        raise Rejection(
            "geometry_anomaly", f"{anomalies['close_contacts']} atom pairs closer than 0.7 A"
        )
    oo = int(np.sum((z[bonds.i] == OXYGEN) & (z[bonds.j] == OXYGEN)))
    if oo:
        raise Rejection("geometry_anomaly", f"{oo} O-O bonds")
    deg = bonds.degree(len(z))
    over = np.flatnonzero(((z == CARBON) | (z == NITROGEN)) & (deg > 4))
    if len(over):
        a = int(over[0])
        raise Rejection(
            "geometry_anomaly",
            f"{len(over)} C/N atoms with more than 4 neighbours ({symbol(int(z[a]))}{a}: {deg[a]})",
        )


def decompose(crystal: Crystal, params: DecomposeParams | None = None) -> Decomposition:
    """Split a MOF into building blocks with connection points and coarse Gaussians.

    Raises:
        Rejection: with a reason code from ``REJECT_REASONS``.
    """
    p = params or DecomposeParams()
    n = crystal.n_atoms
    if n > p.max_atoms:
        raise Rejection("too_many_atoms", f"{n} atoms > {p.max_atoms}")
    low_occ = int(np.sum(crystal.occupancy < p.occupancy_tolerance))
    if low_occ:
        raise Rejection("disorder", f"{low_occ} sites with occupancy < {p.occupancy_tolerance}")
    z = atomic_numbers(crystal.species)
    metal = is_metal(z)
    if not metal.any():
        raise Rejection("no_metal", f"formula {crystal.formula}")
    lattice = crystal.lattice
    frac = wrap(crystal.frac)

    bonds, anomalies = find_bonds(z, frac, lattice, p.bonds)
    _check_geometry(z, bonds, anomalies)

    node = node_atom_mask(z, bonds.i, bonds.j)
    cut = node[bonds.i] != node[bonds.j]
    comp, offset, dims = _components(n, bonds.i, bonds.j, bonds.shift, ~cut)
    n_comp = len(dims)
    comp_is_node = np.zeros(n_comp, dtype=bool)
    comp_is_node[comp[node]] = True

    infinite = [c for c in range(n_comp) if dims[c] > 0]
    if infinite:
        names = {1: "rod", 2: "layer", 3: "3D net"}
        c = infinite[0]
        kind = "node" if comp_is_node[c] else "linker"
        raise Rejection(
            "periodic_component",
            f"{len(infinite)} infinite components; e.g. a {names[dims[c]]} {kind} of "
            f"{int(np.sum(comp == c))} atoms",
        )

    # cut bonds per component
    ci, cj = comp[bonds.i[cut]], comp[bonds.j[cut]]
    n_cuts = np.bincount(np.concatenate([ci, cj]), minlength=n_comp)
    isolated = np.flatnonzero(n_cuts == 0)
    keep_comp = np.ones(n_comp, dtype=bool)
    if len(isolated):
        if not p.drop_isolated_molecules:
            c = int(isolated[0])
            members = np.flatnonzero(comp == c)
            formula = formula_of(z[members])
            raise Rejection(
                "isolated_molecule", f"{len(isolated)} isolated molecules/ions, e.g. {formula}"
            )
        keep_comp[isolated] = False
    kept = np.flatnonzero(keep_comp)
    if not comp_is_node[kept].any():
        raise Rejection("no_node", "no metal node bonded to an organic part")
    if comp_is_node[kept].all():
        raise Rejection("no_linker", "only metal-containing components")
    if len(kept) > p.max_blocks:
        raise Rejection("too_many_blocks", f"{len(kept)} blocks > {p.max_blocks}")

    block_of_comp = np.full(n_comp, -1, dtype=np.int64)
    block_of_comp[kept] = np.arange(len(kept))
    unwrapped = frac + offset  # contiguous within each component

    # connection points: one per side of each cut bond
    cps: list[list[tuple[np.ndarray, int, tuple[int, int], int]]] = [[] for _ in kept]
    ii, jj, ss = bonds.i[cut], bonds.j[cut], bonds.shift[cut]
    for a, b, s in zip(ii, jj, ss):
        ba, bb = block_of_comp[comp[a]], block_of_comp[comp[b]]
        mid_a = offset[a] + 0.5 * (frac[a] + frac[b] + s)  # in a's component frame
        mid_b = offset[b] + 0.5 * (frac[a] + frac[b] - s)  # in b's component frame
        ka, kb = len(cps[ba]), len(cps[bb])
        cps[ba].append((mid_a, int(a), (int(bb), kb), int(z[b])))
        cps[bb].append((mid_b, int(b), (int(ba), ka), int(z[a])))

    # intra-block bonds (local indices)
    uncut = ~cut
    bond_lists: list[list[tuple[int, int]]] = [[] for _ in kept]
    members_of = [np.flatnonzero(comp == c) for c in kept]
    local_index = np.full(n, -1, dtype=np.int64)
    for members in members_of:
        local_index[members] = np.arange(len(members))
    for a, b in zip(bonds.i[uncut], bonds.j[uncut]):
        bk = block_of_comp[comp[a]]
        if bk >= 0:
            bond_lists[bk].append((int(local_index[a]), int(local_index[b])))

    blocks: list[BuildingBlock] = []
    for bk, c in enumerate(kept):
        members = members_of[bk]
        atoms_cart = unwrapped[members] @ lattice
        cp_frac = np.array([t[0] for t in cps[bk]])
        cp_cart = cp_frac @ lattice
        centre, rot, sigma = principal_frame(np.vstack([atoms_cart, cp_cart]), p.sigma_floor)
        kind = "node" if comp_is_node[c] else "linker"
        cp_atom = np.array([local_index[t[1]] for t in cps[bk]], dtype=np.int64)
        smiles = block_smiles(z[members], bond_lists[bk], cp_atom.tolist())
        blocks.append(
            BuildingBlock(
                kind=kind,
                atom_indices=members,
                z=z[members],
                local=(atoms_cart - centre) @ rot,
                cp_local=(cp_cart - centre) @ rot,
                cp_atom=cp_atom,
                cp_partner=np.array([t[2] for t in cps[bk]], dtype=np.int64),
                cp_partner_z=np.array([t[3] for t in cps[bk]], dtype=np.int64),
                centre_frac=wrap(cart_to_frac(centre, lattice)),
                rotation=rot,
                sigma=sigma,
                bonds=bond_lists[bk],
                smiles=smiles,
                block_id=block_id(kind, smiles),
            )
        )
    return Decomposition(
        id=crystal.id,
        lattice=lattice,
        blocks=blocks,
        n_atoms=n,
        n_dropped_molecules=int(len(isolated)) if p.drop_isolated_molecules else 0,
    )


def formula_of(z: np.ndarray) -> str:
    """Hill formula (:func:`mof.crystal.hill_formula`) of (n,) atomic numbers, e.g. ``C8H4O4``."""
    return hill_formula(symbol(int(v)) for v in z)
