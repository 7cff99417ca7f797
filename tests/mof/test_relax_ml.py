"""The CHGNet relaxation engine (``relax.engine: chgnet``, mof/relax/ml.py) on small CoRE MOF
fixtures: a converged relaxation, one cut short, and its unit conversions."""

from __future__ import annotations

import numpy as np
import pytest

from mof.io import read_cif
from mof.periodic import cell_volume
from mof.relax import RelaxParams, relax_structure
from mof.relax.ml import EV_A3_TO_ATM, EV_TO_KCAL_MOL


def test_unit_conversions_agree_with_ase_units():
    from ase import units

    assert EV_TO_KCAL_MOL == pytest.approx(units.mol / units.kcal, rel=1e-5)
    # 1 eV/A^3 in bar, then atm (1 atm = 1.01325 bar)
    assert EV_A3_TO_ATM == pytest.approx(1.0 / units.bar / 1.01325, rel=1e-5)


def test_chgnet_relaxes_a_small_mof_to_zero_pressure_and_keeps_its_atoms(cif_dir, tmp_path):
    """ECEZAO01 (49 atoms): converged forces and pressure, lower energy, the same atoms, the
    bond graph kept, and the relaxed CIF written; the cell moves a few percent at most."""
    p = RelaxParams(engine="chgnet")
    src = cif_dir / "ECEZAO01_clean.cif"
    row = relax_structure("ECEZAO01", src, tmp_path / "r.cif", p)
    assert row["status"] == "relaxed", row
    assert row["force_field"].startswith("CHGNet")
    assert row["max_force"] <= p.ml_fmax * EV_TO_KCAL_MOL and abs(row["pressure"]) <= 100
    assert row["energy_final"] < row["energy_initial"] and row["bonds_changed"] == 0
    assert row["stop_reason"] == "fmax and pressure reached" and row["steps"] < p.ml_steps
    before, after = read_cif(src), read_cif(tmp_path / "r.cif")
    assert sorted(after.species) == sorted(before.species)
    change = cell_volume(after.lattice) / cell_volume(before.lattice) - 1
    assert row["volume_change"] == pytest.approx(change, abs=1e-6)
    assert abs(change) < 0.1 and row["rms_displacement"] < 0.5


def test_chgnet_cut_short_is_not_converged_with_its_figures(cif_dir, tmp_path):
    p = RelaxParams(engine="chgnet", ml_steps=2)
    row = relax_structure("short", cif_dir / "ECEZAO01_clean.cif", tmp_path / "s.cif", p)
    assert row["status"] == "not_converged" and row["stop_reason"] == "max steps", row
    assert row["steps"] == 2 and "max force" in row["error"]
    assert np.isfinite(row["pressure"]) and row["cif"] == "s.cif"
