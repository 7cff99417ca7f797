"""Square-planar or tetrahedral: the coordination geometry of 4-coordinate metals for UFF4MOF.

lammps-interface types a metal with four bonds as square planar (``Cu4+2``, ``Zn4+2``: angle
terms with minima at 90 and 180 degrees) when the metal and its neighbours are coplanar, and as
tetrahedral (``Cu3+1``, ``Mg3+2``: a minimum at 109.5 degrees) otherwise. Its coplanarity test
takes the plane of the first two bonds, so it fails whenever those two are trans to each other
(their cross product vanishes), and its tolerance (0.02 in the cosine) rejects every real
distorted square: of the 50 CoRE MOFs of ``benchmarks/bench_relax.py``, the exactly square
planar Cu of DIBXOD and BOWNUY and Mn of TUVDUJ, and the distorted squares (two angles of
155-174 degrees) of DORFOG's Mg, NAWXER's Zn and the Cu of OHOMIH and ic048812, were typed
tetrahedral. The angle terms then rebuild the metal's
environment: in DORFOG (Mg, angles 78-103 and 165-169 degrees) the relaxation turns the
linkers by about 80 degrees and the pore-limiting diameter falls from 3.3 to 2.0 A.

:func:`square_planar` decides instead by the four-coordinate geometry index tau4 (Yang, Powell
and Houser, Dalton Trans. 2007: 360 degrees minus the two largest ligand-metal-ligand angles,
over 141 degrees; 0 for a square, 1 for a tetrahedron): square planar at tau4 <= 0.5.
:func:`planar_metal_typing` puts it in place of lammps-interface's test while a structure is
typed; a metal with no square-planar UFF4MOF type (Mg, Ca, ...) gets
its octahedral type's parameters under a square-planar label (``Mg4f2``; the same
90/180-degree angle term).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["planar_metal_typing", "square_planar", "tau4"]

TAU4_PLANAR = 0.5


def tau4(vectors: np.ndarray) -> float:
    """The tau4 index of four bond vectors (4, 3) from a centre: (360 - a - b) / 141 with a, b
    the two largest of the six angles between them (degrees); 0 square planar, 1 tetrahedral."""
    v = np.asarray(vectors, dtype=float)
    if v.shape != (4, 3):
        raise ValueError(f"expected four bond vectors (4, 3), got {v.shape}")
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    i, j = np.triu_indices(4, 1)
    angles = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", u[i], u[j]), -1.0, 1.0)))
    return float((360.0 - np.sort(angles)[-2:].sum()) / 141.0)


def square_planar(vectors: np.ndarray) -> bool:
    """Whether four bond vectors (4, 3) from a centre are square planar rather than tetrahedral
    (:func:`tau4` at most 0.5)."""
    return tau4(vectors) <= TAU4_PLANAR


def _square_planar_aliases(table: dict) -> dict[str, tuple]:
    """For each metal of a UFF4MOF table that has an octahedral type (``Mg6``, ``Ca6f3``) but no
    square-planar one (``X4+2``, ``X4f2``): the label lammps-interface looks up first for a
    planar 4-coordinate atom (``Mg4f2``), with the octahedral parameters. (Not ``X4+2``: it
    also looks that up for every 5-coordinate metal, which then keeps its own fallback.)"""
    out = {}
    for label, params in table.items():
        el = label[:2]
        if label[2:3] != "6" or float(params[1]) != 90.0:
            continue
        if f"{el}4f2" in table or f"{el}4+2" in table or f"{el}4f2" in out:
            continue
        out[f"{el}4f2"] = params
    return out


@contextmanager
def planar_metal_typing() -> Iterator[None]:
    """While active, lammps-interface types 4-coordinate metals by :func:`square_planar` (its
    ``MolecularGraph.coplanar``, used only for that choice, is replaced) and finds square-planar
    labels for metals that lack them; both are undone on exit."""
    from lammps_interface import structure_data
    from lammps_interface.uff4mof import UFF4MOF_DATA

    graph_class = structure_data.MolecularGraph
    saved = graph_class.coplanar

    def coplanar(graph, node) -> bool:
        neighbours = list(graph.neighbors(node))
        if len(neighbours) != 4:
            return saved(graph, node)
        centre = graph.nodes[node]["cartesian_coordinates"]
        vectors = [
            graph.min_img(graph.nodes[n]["cartesian_coordinates"] - centre) for n in neighbours
        ]
        return square_planar(np.asarray(vectors))

    # the aliases go first: for a metal it cannot type, lammps-interface takes the last entry of
    # the element in the table, which must stay what it was
    original = dict(UFF4MOF_DATA)
    graph_class.coplanar = coplanar
    UFF4MOF_DATA.clear()
    UFF4MOF_DATA.update(_square_planar_aliases(original))
    UFF4MOF_DATA.update(original)
    try:
        yield
    finally:
        graph_class.coplanar = saved
        UFF4MOF_DATA.clear()
        UFF4MOF_DATA.update(original)
