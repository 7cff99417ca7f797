"""Building blocks cut at their rotatable bonds into rigid fragments, for a fit in which torsions
move (``FitParams.torsions``), and the fragments joined back into blocks.

A bond is rotatable when it is in no ring (a bridge of the block's bond graph) and each side of
it holds at least ``min_heavy`` heavy atoms that are not all on the bond's axis: the bond between
a carboxylate and its ring, or along an alkyl chain, but not a methyl or a C-O of a carboxylate.
Cutting every rotatable bond leaves the fragments. Each cut bond becomes a joint between the
two fragments it separates: its midpoint and half-bonds seen from both sides (which must stay
together, as connection points do) and a unit vector across the bond (the torsion: both sides'
copies must stay together too, softly, so that a torsion changes only where the connection
points ask for it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from mof.fit import Placement
from mof.library import LibraryBlock


def rotatable_bonds(block: LibraryBlock, min_heavy: int = 2) -> np.ndarray:
    """(R, 2) atom indices of the block's rotatable bonds (see the module docstring)."""
    bonds = np.asarray(block.bonds, dtype=int).reshape(-1, 2)
    if len(bonds) == 0:
        return np.zeros((0, 2), dtype=int)
    g = nx.Graph()
    g.add_nodes_from(range(len(block.z)))
    g.add_edges_from(map(tuple, bonds))
    heavy = np.asarray(block.z) > 1
    local = np.asarray(block.local, dtype=float).reshape(-1, 3)
    out = []
    for i, j in nx.bridges(g):
        g.remove_edge(i, j)
        side_i = np.fromiter(nx.node_connected_component(g, i), dtype=int)
        g.add_edge(i, j)
        side_j = np.setdiff1d(np.arange(len(block.z)), side_i)
        axis = local[j] - local[i]
        axis = axis / max(np.linalg.norm(axis), 1e-12)
        ok = True
        for side in (side_i, side_j):
            side = side[heavy[side]]
            rel = local[side] - local[i]
            off_axis = np.linalg.norm(rel - np.outer(rel @ axis, axis), axis=1)
            ok &= len(side) >= min_heavy and bool((off_axis > 0.2).any())
        if ok:
            out.append((min(i, j), max(i, j)))
    return np.array(sorted(out), dtype=int).reshape(-1, 2)


@dataclass
class Fragments:
    """A placement's blocks as rigid fragments. Fragment f belongs to block ``parent[f]`` and
    holds that block's atoms ``atoms[f]`` and connection points ``cps[f]`` (indices into the
    block's arrays). Joint j ties fragment ``fa[j]`` to ``fb[j]``: the cut bond's midpoint in
    each one's frame (``ma``, ``mb`` (J, 3)), its half-bonds (``ua``, ``ub``: pointing to each
    side's own atom, in its frame) and a unit vector across the bond (``d``, the same in both
    frames at the cut)."""

    place: Placement  # the fragments as blocks
    parent: np.ndarray  # (F,)
    atoms: list  # F arrays of atom indices
    cps: list  # F arrays of CP indices
    fa: np.ndarray  # (J,)
    fb: np.ndarray  # (J,)
    ma: np.ndarray
    mb: np.ndarray
    ua: np.ndarray
    ub: np.ndarray
    d: np.ndarray
    blocks: list  # the placement's original blocks


def _rotatable(block: LibraryBlock, min_heavy: int) -> np.ndarray:
    """``rotatable_bonds`` of a block, computed once per block object."""
    cached = getattr(block, "_rotatable", None)
    if cached is None or cached[0] != min_heavy:
        cached = (min_heavy, rotatable_bonds(block, min_heavy))
        block._rotatable = cached
    return cached[1]


def _sub_block(block: LibraryBlock, idx: np.ndarray, origin: np.ndarray):
    """The part of ``block`` on atoms ``idx`` (sorted), with coordinates relative to ``origin``
    (block frame): the block, and the indices of its connection points in ``block``."""
    remap = -np.ones(len(block.z), dtype=int)
    remap[idx] = np.arange(len(idx))
    cp_atom = np.asarray(block.cp_atom, dtype=int)
    cps = np.flatnonzero(remap[cp_atom] >= 0)
    bonds = np.asarray(block.bonds, dtype=int).reshape(-1, 2)
    inside = bonds[(remap[bonds] >= 0).all(axis=1)]
    pz = block.cp_partner_z
    sub = LibraryBlock(
        block_id=block.block_id,
        kind=block.kind,
        z=np.asarray(block.z)[idx],
        local=np.asarray(block.local, dtype=float)[idx] - origin,
        cp_local=np.asarray(block.cp_local, dtype=float).reshape(-1, 3)[cps] - origin,
        cp_atom=remap[cp_atom[cps]],
        bonds=remap[inside],
        cp_partner_z=None if pz is None or len(pz) != len(cp_atom) else np.asarray(pz)[cps],
    )
    return sub, cps


def split(place: Placement, min_heavy: int = 2) -> Fragments:
    """Cut every block of ``place`` at its rotatable bonds. A block without one stays one
    fragment (the same object). Fragments start where their block puts them."""
    blocks, centres, rots, parent, atoms, cps = [], [], [], [], [], []
    fa, fb, ma, mb, ua, ub, dd = [], [], [], [], [], [], []
    for i, blk in enumerate(place.blocks):
        rb = _rotatable(blk, min_heavy)
        n = len(blk.z)
        if len(rb) == 0:
            blocks.append(blk)
            centres.append(place.centres[i])
            rots.append(place.rots[i])
            parent.append(i)
            atoms.append(np.arange(n))
            cps.append(np.arange(len(blk.cp_local)))
            continue
        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(map(tuple, np.asarray(blk.bonds, dtype=int).reshape(-1, 2)))
        g.remove_edges_from(map(tuple, rb))
        comp = np.empty(n, dtype=int)
        first = len(blocks)
        local = np.asarray(blk.local, dtype=float)
        origins = []
        for c, nodes in enumerate(sorted(nx.connected_components(g), key=min)):
            idx = np.array(sorted(nodes))
            comp[idx] = first + c
            origin = local[idx].mean(axis=0)
            sub, cp_idx = _sub_block(blk, idx, origin)
            blocks.append(sub)
            centres.append(place.centres[i] + place.rots[i] @ origin)
            rots.append(place.rots[i])
            parent.append(i)
            atoms.append(idx)
            cps.append(cp_idx)
            origins.append(origin)
        for a, b in rb:
            m = 0.5 * (local[a] + local[b])
            axis = local[b] - local[a]
            perp = np.cross(axis, np.eye(3)[np.argmin(np.abs(axis))])
            fa.append(comp[a])
            fb.append(comp[b])
            ma.append(m - origins[comp[a] - first])
            mb.append(m - origins[comp[b] - first])
            ua.append(local[a] - m)
            ub.append(local[b] - m)
            dd.append(perp / np.linalg.norm(perp))
    arr = lambda v: np.array(v, dtype=float).reshape(-1, 3)  # noqa: E731
    return Fragments(
        place=Placement(place.lattice, np.array(centres), np.array(rots), blocks),
        parent=np.array(parent, dtype=int),
        atoms=atoms,
        cps=cps,
        fa=np.array(fa, dtype=int),
        fb=np.array(fb, dtype=int),
        ma=arr(ma),
        mb=arr(mb),
        ua=arr(ua),
        ub=arr(ub),
        d=arr(dd),
        blocks=list(place.blocks),
    )


def merge(fr: Fragments, moved: Placement) -> Placement:
    """The blocks of ``fr`` with their fragments where ``moved`` (a placement of the fragments)
    puts them. A block cut into fragments comes back as a new conformer (``LibraryBlock``)
    with its atoms and connection points as moved, centred on their mean and in the frame of
    its largest fragment; the others come back unchanged."""
    k = len(fr.blocks)
    centres, rots, blocks = np.zeros((k, 3)), np.zeros((k, 3, 3)), list(fr.blocks)
    for i, blk in enumerate(fr.blocks):
        own = np.flatnonzero(fr.parent == i)
        if len(own) == 1 and moved.blocks[own[0]] is blk:
            centres[i], rots[i] = moved.centres[own[0]], moved.rots[own[0]]
            continue
        pos = np.zeros((len(blk.z), 3))
        cp = np.zeros((len(blk.cp_local), 3))
        for f in own:
            sub = moved.blocks[f]
            pos[fr.atoms[f]] = moved.centres[f] + sub.local @ moved.rots[f].T
            cp[fr.cps[f]] = moved.centres[f] + sub.cp_local @ moved.rots[f].T
        ref = own[np.argmax([len(fr.atoms[f]) for f in own])]
        rot = moved.rots[ref]
        centre = np.concatenate([pos, cp]).mean(axis=0)
        blocks[i] = replace(
            blk, local=(pos - centre) @ rot, cp_local=(cp - centre) @ rot, conformers=[]
        )
        if hasattr(blk, "_rotatable"):  # the same bond graph, the same rotatable bonds
            blocks[i]._rotatable = blk._rotatable
        centres[i], rots[i] = centre, rot
    return Placement(moved.lattice, centres, rots, blocks)
