"""One structure, in this process: screen the CIF, run typing and minimisation in a child process
(:func:`mof.child.run_in_child`, with the ``timeout``), fold the relaxed supercell back onto the
unit cell, check the result and write the relaxed CIF. The reason codes are listed in
:mod:`mof.relax`.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from mof import resume
from mof.child import Crashed, Done, Failed, TimedOut, run_in_child
from mof.crystal import Crystal
from mof.io import write_cif
from mof.periodic import cell_volume, lattice_parameters, minimum_image, wrap
from mof.relax.lammps_data import box_lattice
from mof.relax.ml import EV_TO_KCAL_MOL
from mof.relax.params import COLUMNS, RelaxParams
from mof.relax.supercell import fold_supercell, replication, supercell_owner
from mof.relax.topology import bond_changes, bond_pairs
from mof.screen import closest_contact, screen_cif

__all__ = ["relax_structure"]


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
        # bonds the CIF declares (an assembly's) make every atom framework; perceived ones do
        # not, so solvent or a counter-ion bonded to nothing stays a molecule, as before
        declared = crystal.bonds is not None and len(crystal.bonds) > 0
        if p.perceive_bonds and not declared:
            pairs = sorted(bond_pairs(list(crystal.species), crystal.frac, crystal.lattice))
            crystal = replace(crystal, bonds=np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
        with tempfile.TemporaryDirectory(prefix=resume.temp_prefix()) as tmp:
            tmp = Path(tmp)
            clean = tmp / "structure.cif"
            # lammps-interface types with the CIF's bonds when it has them (assembled and
            # bonded structures: the pairs of the assembly, as in MOFDiff, however long) and
            # perceives bonds from distances otherwise
            write_cif(clean, crystal, crystal.bonds)
            env = {"OMP_NUM_THREADS": str(max(1, p.omp_threads))}
            if p.engine == "chgnet":
                target, args = "mof.relax.ml:relax_ml", [str(clean), str(tmp), asdict(p)]
            else:
                reps = None
                if p.min_cell_width > 0:
                    reps = list(replication(crystal.lattice, p.min_cell_width))
                target = "mof.relax.engine:type_and_minimise"
                args = [str(clean), str(tmp), asdict(p), declared, reps]
            outcome = run_in_child(target, args, timeout=p.timeout, env=env, workdir=tmp)
            if not isinstance(outcome, Done):
                return _child_failed(row, outcome, tmp, p)
            res = outcome.value
        return _finish(row, res, crystal, out_cif, p)
    except Exception as e:  # noqa: BLE001 - one structure never kills the batch
        return _failed(row, "error", f"{type(e).__name__}: {str(e)[:300]}")
    finally:
        row["seconds"] = time.perf_counter() - t0


def _child_failed(
    row: dict, outcome: TimedOut | Crashed | Failed, tmp: Path, p: RelaxParams
) -> dict:
    """The row of a child process that timed out, died (a crash, or an exit() in an engine) or
    raised; where it happened comes from its ``stage`` file."""
    where = _stage(tmp)
    if isinstance(outcome, TimedOut):
        return _failed(row, "timeout", f"longer than {p.timeout:.0f} s (in {where})")
    engine_error = "engine_error" if p.engine == "chgnet" else "lammps_error"
    reason = "typing_failed" if where == "typing" else engine_error
    if isinstance(outcome, Failed):
        return _failed(row, reason, f"{where} raised {outcome.error[:300]}")
    tail = outcome.output
    lammps_log = tmp / "log.lammps"
    if lammps_log.exists():
        errs = [ln for ln in lammps_log.read_text().splitlines() if ln.startswith("ERROR")]
        tail = " | ".join(errs[-2:]) or tail
    return _failed(row, reason, f"{where} died, exit code {outcome.exit_code}: {tail}")


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
    if res.get("rest_lengths"):
        rest = sorted(res["rest_lengths"].items())
        notes.append(
            "metal bond rest lengths from CoRE MOF: "
            + ", ".join(f"{k} {a:.2f}->{b:.2f}" for k, (a, b) in rest)
        )
    row["notes"] = "; ".join(notes)
    row["force_field"] = res.get("force_field")
    row["seconds_typing"] = res.get("seconds_typing")
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
        cycles=res["cycles"],
        stop_reason=(res["stop_reasons"] or [""])[-1],
        max_force=res["max_force"],
        pressure=res["pressure"],
    )
    start, end = res["start"], res["end"]
    try:
        lattice, frac, spread = fold_supercell(
            crystal.frac,
            crystal.lattice,
            np.asarray(start["frac"]),
            np.asarray(end["frac"]),
            np.asarray(end["lattice"]) if "lattice" in end else box_lattice(end["box"]),
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
    energies = [row["energy_initial"], row["energy_final"], row["max_force"]]
    if not np.all(np.isfinite(energies)):
        return _failed(row, "diverged", "non-finite energy or forces")
    if row["energy_final"] > row["energy_initial"] + 1e-6:
        return _failed(row, "diverged", "the energy went up")
    # replicas that disagree make the averaged cell meaningless: checked before its contacts
    if spread > p.max_replica_spread:
        return _broken_symmetry(row, res, crystal, out_cif, p, spread)
    if _collapsed_or_resized(row, frac, lattice, p):
        return row
    broken, formed = bond_changes(
        list(crystal.species),
        crystal.frac,
        crystal.lattice,
        frac,
        lattice,
        crystal.bonds,
        p.bond_slack,
    )
    row["bonds_changed"] = len(broken) + len(formed)
    relaxed = Crystal(crystal.id, lattice, list(crystal.species), frac)
    if out_cif is not None:  # also for topology_changed and not_converged: a user can look
        write_cif(out_cif, relaxed)
        row["cif"] = Path(out_cif).name
    if broken or formed:
        sample = ", ".join(f"{i}-{j}" for i, j in (broken + formed)[:5])
        return _outcome(
            row,
            "topology_changed",
            f"{len(broken)} bonds broken, {len(formed)} formed by the relaxation (atoms {sample})",
        )
    return _check_converged(row, p)


def _collapsed_or_resized(row: dict, frac, lattice, p: RelaxParams) -> bool:
    """Whether the relaxed structure (``frac`` (N, 3), ``lattice`` (3, 3)) failed (``row`` then
    says why): atoms closer than ``min_distance`` (``diverged``) or the volume change already in
    ``row`` beyond ``max_volume_change`` (``cell_change``). Records ``min_distance``."""
    contact = closest_contact(frac, lattice)
    row["min_distance"] = contact
    if contact < p.min_distance:
        _failed(row, "diverged", f"atoms {contact:.3f} A apart after relaxation")
        return True
    if abs(row["volume_change"]) > p.max_volume_change:
        _failed(
            row,
            "cell_change",
            f"volume changed by {100 * row['volume_change']:+.1f}% "
            f"(bound {100 * p.max_volume_change:.0f}%)",
        )
        return True
    return False


def _broken_symmetry(row: dict, res: dict, crystal: Crystal, out_cif, p: RelaxParams, spread):
    """A supercell whose replicas relaxed apart: not a copy of one relaxed cell, but a relaxed
    structure of its own (MOFDiff validates the relaxed supercell as it is). It is written whole
    (``symmetry_broken``, validated like ``topology_changed``; its bonds are not compared) unless
    its atoms collapsed together or its volume changed past the bound."""
    reps = tuple(res["reps"])
    start, end = res["start"], res["end"]
    owner = supercell_owner(crystal.frac, crystal.lattice, np.asarray(start["frac"]), reps)
    lattice = np.asarray(end["lattice"]) if "lattice" in end else box_lattice(end["box"])
    frac = wrap(np.asarray(end["frac"]))
    row["volume_change"] = cell_volume(lattice) / (cell_volume(crystal.lattice) * np.prod(reps)) - 1
    if _collapsed_or_resized(row, frac, lattice, p):
        return row
    if out_cif is not None:
        species = [crystal.species[k] for k in owner]
        write_cif(out_cif, Crystal(crystal.id, lattice, species, frac))
        row["cif"] = Path(out_cif).name
    shape = "x".join(str(r) for r in reps)
    return _outcome(
        row,
        "symmetry_broken",
        f"replicas of one atom up to {spread:.2f} A from their average (bound "
        f"{p.max_replica_spread} A): the relaxed {shape} supercell is the structure",
    )


def _outcome(row: dict, status: str, detail: str) -> dict:
    """A structure that relaxed into something not to use: ``status`` is also its reason."""
    row.update(status=status, reason=status, error=detail)
    return row


def _check_converged(row: dict, p: RelaxParams) -> dict:
    """``relaxed`` only when the final max force meets ``force_tolerance`` and, if the cell was
    relaxed, the pressure ``max_pressure``; ``not_converged`` with the figures otherwise."""
    force, press = row["max_force"], row["pressure"]
    # the CHGNet engine's bound is on the largest atomic force (eV/A), which bounds every
    # component; the row's max_force is the largest component in kcal/mol/A for both engines
    tolerance = p.ml_fmax * EV_TO_KCAL_MOL if p.engine == "chgnet" else p.force_tolerance
    problems = []
    if not force <= tolerance:
        problems.append(f"max force {force:.3g} kcal/mol/A > {tolerance:.3g}")
    if p.cycles > 0 and not abs(press) <= p.max_pressure:
        problems.append(f"pressure {press:.0f} atm, |p| > {p.max_pressure:g}")
    if problems:
        rounds = f"{row['cycles']} cell rounds" if p.cycles > 0 else "fixed cell"
        detail = "; ".join(problems) + f" ({rounds}, last stop: {row['stop_reason']})"
        return _outcome(row, "not_converged", detail)
    return row
