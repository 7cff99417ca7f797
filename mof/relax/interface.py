"""The adapter around lammps-interface (UFF4MOF / UFF atom typing, LAMMPS data and input texts).

Its known failure modes are handled here: its interactive questions (replicate an isolated molecule?
yes for solvent in a CIF without bonds, so the supercell stays a supercell) are answered without a
terminal; only a finite bonded component is split off as a molecule (:func:`finite_molecules_only`),
and in a CIF that lists its bonds every atom is framework, so nothing is split off; the recursion
limit is raised for its recursive chain search, its printing goes to a log file, and a structure
UFF4MOF cannot type (e.g. ``KeyError 'S_3'``) is typed with plain UFF, and its test for
square-planar 4-coordinate metals is replaced (:mod:`mof.relax.metal_geometry`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import numpy as np

from mof.bonds import periodic_atoms
from mof.periodic import minimum_image
from mof.relax.metal_geometry import planar_metal_typing

__all__ = ["TypingError", "type_structure"]


class TypingError(RuntimeError):
    """Neither the requested force field nor plain UFF could type the structure."""


@contextmanager
def finite_molecules_only() -> Iterator[None]:
    """While active, lammps-interface splits off as a molecule only a bonded component that is
    finite. Its own rule takes every component of fewer than 25 atoms, or of at most half the
    cell's atoms and at most 100, for a molecule, and unwraps and replicates it as one; a periodic
    component among them (a tiny cell's whole framework, one of two interpenetrated nets) is
    torn apart that way. A bond joins the nearest images of its atoms
    (:func:`mof.periodic.minimum_image`), as lammps-interface's perception finds them."""
    import networkx as nx
    from lammps_interface.lammps_main import LammpsSimulation

    saved = LammpsSimulation.compute_molecules

    def compute_molecules(self, size_cutoff=0.5):
        graph = self.graph
        nodes = list(graph.nodes())
        index = {n: k for k, n in enumerate(nodes)}
        lattice = np.asarray(self.cell.cell, dtype=float)
        cart = np.array([graph.nodes[n]["cartesian_coordinates"] for n in nodes], dtype=float)
        frac = cart.reshape(-1, 3) @ np.linalg.inv(lattice)
        ij = np.array([(index[a], index[b]) for a, b in graph.edges()], dtype=int).reshape(-1, 2)
        d = frac[ij[:, 1]] - frac[ij[:, 0]]
        shift = np.rint(minimum_image(d, lattice)[0] - d) if len(d) else np.zeros((0, 3))
        periodic = periodic_atoms(len(nodes), ij[:, 0], ij[:, 1], shift)
        for comp in nx.connected_components(graph):
            n = len(comp)
            small = (n <= graph.original_size * size_cutoff or n < 25) and n <= 100
            if small and not periodic[index[next(iter(comp))]]:
                self.molecules.append(comp)

    LammpsSimulation.compute_molecules = compute_molecules
    try:
        yield
    finally:
        LammpsSimulation.compute_molecules = saved


def _type_with_lammps_interface(
    cif: str,
    force_field: str,
    cutoff: float,
    log,
    molecules: bool = True,
    replication=None,
    planar_metals: bool = True,
) -> dict:
    """Run lammps-interface in this process; returns the data and input texts."""
    import builtins
    from contextlib import nullcontext

    prompts: list[str] = []

    def answer(prompt: str = "") -> str:  # its questions, answered without a terminal
        reply = "y" if "replicate" in prompt.lower() else "n"
        prompts.append(f"{prompt.strip()} {reply}")
        return reply

    saved_input, saved_limit = builtins.input, sys.getrecursionlimit()
    builtins.input = answer
    sys.setrecursionlimit(max(saved_limit, 50_000))  # its recursive chain search
    try:
        with planar_metal_typing() if planar_metals else nullcontext(), finite_molecules_only():
            return _lammps_interface_texts(
                cif, force_field, cutoff, log, prompts, replication, molecules
            )
    finally:
        builtins.input = saved_input
        sys.setrecursionlimit(saved_limit)


def _lammps_interface_texts(
    cif: str, force_field: str, cutoff: float, log, prompts, replication=None, molecules=True
) -> dict:
    from contextlib import redirect_stderr, redirect_stdout

    with redirect_stdout(log), redirect_stderr(log):
        from lammps_interface.InputHandler import Options
        from lammps_interface.lammps_main import LammpsSimulation
        from lammps_interface.structure_data import from_CIF

        argv = sys.argv
        sys.argv = ["lammps-interface", "-ff", force_field, "--cutoff", str(cutoff), cif]
        if replication is not None:
            sys.argv[1:1] = ["--replication", "x".join(str(int(r)) for r in replication)]
        try:
            options = Options()
        finally:
            sys.argv = argv
        sim = LammpsSimulation(options)
        cell, graph = from_CIF(options.cif_file)
        sim.set_cell(cell)
        sim.set_graph(graph)
        if molecules:  # solvent and counter-ions become molecules of their own
            sim.split_graph()
        sim.assign_force_fields()
        sim.compute_simulation_size()
        sim.merge_graphs()
        for step in (
            sim.unique_atoms,
            sim.unique_bonds,
            sim.unique_angles,
            sim.unique_dihedrals,
            sim.unique_impropers,
        ):
            step(sim.graph)
        sim.unique_pair_terms()
        sim.define_styles()
        data = sim.construct_data_file()
        inp = sim.construct_input_file()
    return {
        "data": data,
        "input": inp,
        "reps": [int(x) for x in sim.supercell],
        "prompts": prompts,
    }


def type_structure(
    cif: str,
    force_field: str,
    cutoff: float,
    log: TextIO,
    molecules: bool = True,
    replication: tuple[int, int, int] | None = None,
    planar_metals: bool = True,
) -> dict:
    """Type one CIF with ``force_field`` (UFF4MOF), falling back to plain UFF.

    ``molecules``: whether the CIF may hold molecules (solvent) besides the framework. When it
    may not (a CIF that lists its bonds: every atom is framework), no bonded component is split
    off, whatever its size: the whole bond graph is replicated as one framework (a finite
    cluster among them is the validation's lone molecule, not a typing failure).
    ``replication``: the supercell (:func:`mof.relax.supercell.replication`); None lets
    lammps-interface replicate until the cell holds twice the cutoff.
    ``planar_metals``: 4-coordinate metals typed square planar or tetrahedral by their tau4 index
    (:mod:`mof.relax.metal_geometry`); False: by lammps-interface's own coplanarity test.

    Returns:
        ``{"data", "input"}`` (LAMMPS data and input texts), ``reps`` (the replication of the
        unit cell), ``prompts`` (the questions answered), ``force_field`` (the one that worked)
        and ``fallback`` (why the first one failed, or "").

    Raises:
        TypingError: with the reasons of both attempts.
    """
    tried = []
    for ff in dict.fromkeys([force_field, "UFF"]):
        try:
            out = _type_with_lammps_interface(
                cif, ff, cutoff, log, molecules, replication, planar_metals
            )
            out["force_field"] = ff
            out["fallback"] = "; ".join(tried)
            return out
        except (Exception, SystemExit) as e:  # noqa: BLE001 - every typing failure is reported
            tried.append(f"{ff}: {type(e).__name__}: {str(e)[:200]}")
    raise TypingError("; ".join(tried))
