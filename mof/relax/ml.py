"""Relaxation with a machine-learned interatomic potential: ``relax.engine: chgnet``.

CHGNet (``chgnet`` 0.4.2, model 0.3.0) ships its weights inside its wheel and loads offline. It
needs no atom typing and no bond list: the structure goes to ASE as it is, with CHGNet as the
calculator, and BFGS minimises atoms and cell together through ASE's ``FrechetCellFilter``
(zero pressure; with ``cycles: 0`` the cell stays fixed) until the largest atomic force is at
most ``ml_fmax`` eV/A and, with the cell relaxed, ``|pressure|`` at most ``max_pressure`` atm, or
``ml_steps`` steps have run. The filter's cell coordinates are the log-strain times
``ml_cell_factor``: ASE's default (the number of atoms) makes the cell's steps so small that the
optimisers stop at hundreds or thousands of atm (DIBXOD, 78 atoms: FIRE at +716 atm after 55
steps), and 1 lets BFGS's first 0.2 steps strain the cell by 20% (ECEZAO01: +15% volume and
44,000 atm after 3 steps); 10 (2% a step) is the default. The optimiser's own criterion mixes
atomic and cell forces, so the atomic forces and the pressure are checked apart. The unit cell
is relaxed as it is (the graph reaches neighbours through periodic images).

:func:`relax_ml` is the child process's work (:func:`mof.child.run_in_child`), like
:func:`mof.relax.engine.type_and_minimise`, and returns the same fields, so that
:mod:`mof.relax.structure` checks and writes its result the same way. Units follow the UFF
engine's columns: energies in kcal/mol per atom, the max force component in kcal/mol/A, the
pressure in atm (CHGNet's eV and eV/A^3 converted).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mof.relax.params import RelaxParams

__all__ = ["EV_TO_KCAL_MOL", "EV_A3_TO_ATM", "relax_ml"]

EV_TO_KCAL_MOL = 23.060548
EV_A3_TO_ATM = 160.21766208e4 / 1.01325  # 1 eV/A^3 = 160.2 GPa


def _pressure_atm(atoms) -> float:
    """Hydrostatic pressure (atm; positive: the cell wants to expand, as LAMMPS's ``press``)."""
    return float(-np.mean(atoms.get_stress()[:3]) * EV_A3_TO_ATM)


def relax_ml(cif: str, workdir: str, params: dict) -> dict:
    """Relax ``cif`` with CHGNet in this process; a JSON-able result (see the module docstring).

    ``params`` is :class:`RelaxParams` as a dict. Writes ``stage`` in ``workdir`` (where a
    crash or a time-out happened) and the optimiser's log ``bfgs.log``.
    """
    import torch
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    from mof.io import parse_cif

    p = RelaxParams(**params)
    folder = Path(workdir)
    stage = folder / "stage"
    stage.write_text("loading CHGNet")
    torch.set_num_threads(max(1, p.omp_threads))
    t0 = time.perf_counter()
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    model = CHGNet.load(verbose=False)
    crystal = parse_cif(Path(cif).read_text())
    atoms = _ase_atoms(crystal)
    atoms.calc = CHGNetCalculator(model=model, use_device="cpu")
    result: dict = {
        "force_field": f"CHGNet {model.version}",
        "seconds_typing": time.perf_counter() - t0,
        "reps": [1, 1, 1],
    }
    stage.write_text("CHGNet relaxation")
    n = len(atoms)
    start = {"frac": np.asarray(crystal.frac, dtype=float).tolist()}
    e0 = float(atoms.get_potential_energy()) / n
    cell = p.cycles > 0
    target = atoms
    if cell:
        target = FrechetCellFilter(atoms, exp_cell_factor=p.ml_cell_factor, scalar_pressure=0.0)
    steps, reason = 0, "max steps"
    with BFGS(target, logfile=str(folder / "bfgs.log")) as opt:
        # each bound checked apart (the optimiser's own criterion mixes atoms and cell)
        for _ in opt.irun(fmax=0.0, steps=p.ml_steps):
            force = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
            if not np.isfinite(force):
                reason = "non-finite forces"
                break
            if force <= p.ml_fmax and (not cell or abs(_pressure_atm(atoms)) <= p.max_pressure):
                reason = "fmax and pressure reached" if cell else "fmax reached"
                break
        steps = opt.nsteps
    e1 = float(atoms.get_potential_energy()) / n
    end_frac = atoms.get_scaled_positions(wrap=True)
    result.update(
        natoms=n,
        energy_initial=e0 * EV_TO_KCAL_MOL,
        energy_fixed_cell=None,
        energy_final=e1 * EV_TO_KCAL_MOL,
        steps=int(steps),
        cycles=0,
        max_force=float(np.abs(atoms.get_forces()).max() * EV_TO_KCAL_MOL),
        pressure=_pressure_atm(atoms),
        stop_reasons=[reason],
        start=start,
        end={"frac": np.asarray(end_frac).tolist(), "lattice": atoms.cell[:].tolist()},
        dropped_terms={},
    )
    return result


def _ase_atoms(crystal):
    """A :class:`mof.crystal.Crystal` as periodic ASE atoms (same atom order)."""
    from ase import Atoms

    return Atoms(
        symbols=list(crystal.species),
        scaled_positions=np.asarray(crystal.frac, dtype=float),
        cell=np.asarray(crystal.lattice, dtype=float),
        pbc=True,
    )
