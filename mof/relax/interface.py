"""The adapter around lammps-interface (UFF4MOF / UFF atom typing, LAMMPS data and input texts).

Its known failure modes are handled here: its interactive questions (replicate an isolated
molecule? yes for solvent in a CIF without bonds, so the supercell stays a supercell) are
answered without a terminal; in a CIF that lists its bonds every atom is framework, so nothing is
split off as a molecule (lammps-interface would cut off every bonded component of fewer than 25
atoms or at most half the cell: a tiny cell's whole framework, one of two interpenetrated nets);
the recursion limit is raised for its recursive chain search, its printing goes to a log file, and a
structure UFF4MOF cannot type (e.g. ``KeyError 'S_3'``) is typed with plain UFF, and its test
for square-planar 4-coordinate metals is replaced (:mod:`mof.relax.metal_geometry`).
"""

from __future__ import annotations

import sys
from typing import TextIO

from mof.relax.metal_geometry import planar_metal_typing

__all__ = ["TypingError", "type_structure"]


class TypingError(RuntimeError):
    """Neither the requested force field nor plain UFF could type the structure."""


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
        with planar_metal_typing() if planar_metals else nullcontext():
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
