"""Metal-ligand rest lengths from CoRE MOF (mof/relax/bond_lengths.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mof.bonds import find_bonds
from mof.elements import atomic_numbers
from mof.io import read_cif
from mof.relax import RelaxParams
from mof.relax.bond_lengths import load_table, override_rest_lengths, uff_element
from mof.relax.structure import relax_structure

RELAX_DATA = Path(__file__).resolve().parents[1] / "data" / "relax"

DATA = """LAMMPS data file

Masses

    1   162.500000000 # Dy8f4
    2    15.999400000 # O_2
    3    12.010700000 # C_R
    4    63.546000000 # Cu4+2

Bond Coeffs

    1      230.000000        2.200000  # Dy8f4 O_2
    2      700.000000        1.270000  # C_R O_2
    3       60.000000        3.500000  # Dy8f4 Cu4+2
    4      150.000000        1.900000  # O_2 Cu4+2

Bonds

       1        1        1        2
"""


@pytest.mark.parametrize(
    "label, element",
    [("Gd8f4", "Gd"), ("O_2", "O"), ("C_R", "C"), ("Cu4+2", "Cu"), ("H_", "H"), ("Zn3f2", "Zn")],
)
def test_uff_type_labels_name_their_element(label, element):
    assert uff_element(label) == element


def test_only_metal_non_metal_bonds_seen_often_enough_get_the_table_length():
    table = {("Dy", "O"): (2.40, 500), ("Cu", "O"): (1.96, 10)}
    new, changed = override_rest_lengths(DATA, min_count=50, table=table)
    coeffs = {
        line.split("#")[1].strip(): [float(x) for x in line.split("#")[0].split()[1:]]
        for line in new.splitlines()
        if "#" in line and line.strip()[0].isdigit() and len(line.split("#")[0].split()) == 3
    }
    assert coeffs["Dy8f4 O_2"] == pytest.approx([230.0, 2.40])  # force constant kept
    assert coeffs["C_R O_2"] == pytest.approx([700.0, 1.27])  # no metal
    assert coeffs["Dy8f4 Cu4+2"] == pytest.approx([60.0, 3.5])  # metal-metal
    assert coeffs["O_2 Cu4+2"] == pytest.approx([150.0, 1.9])  # seen too rarely
    assert changed == {"Dy-O": (2.2, 2.40)}
    # the rest of the file is untouched
    assert [x for x in new.splitlines() if "Bond Coeffs" not in x and "#" not in x] == [
        x for x in DATA.splitlines() if "Bond Coeffs" not in x and "#" not in x
    ]


def test_the_shipped_table_has_the_common_pairs():
    table = load_table()
    for pair, lo, hi in ((("Zn", "O"), 1.9, 2.1), (("Cu", "N"), 1.9, 2.1), (("Gd", "O"), 2.3, 2.5)):
        median, count = table[pair]
        assert lo < median < hi and count > 1000


def _dy_o(path: Path) -> float:
    c = read_cif(path)
    z = atomic_numbers(c.species)
    bonds, _ = find_bonds(z, c.frac, c.lattice)
    sp = np.asarray(c.species)
    pairs = {tuple(sorted(p)) for p in zip(sp[bonds.i], sp[bonds.j])}
    assert ("Dy", "O") in pairs
    keep = [k for k in range(len(bonds)) if sorted((sp[bonds.i[k]], sp[bonds.j[k]])) == ["Dy", "O"]]
    return float(np.median(bonds.length[keep]))


@pytest.mark.slow
def test_a_lanthanide_framework_keeps_its_bond_lengths_and_cell(tmp_path):
    """DIBXOD (Dy, Cu): UFF4MOF's Dy-O rest length (2.2 A) shortens the crystal's 2.43 A bonds
    and shrinks the cell by about 15%; with the CoRE MOF lengths both stay near the crystal."""
    src = RELAX_DATA / "DIBXOD_clean.cif"
    crystal = _dy_o(src)
    rows = {}
    for on in (True, False):
        out = tmp_path / f"{on}.cif"
        rows[on] = relax_structure("DIBXOD", src, out, RelaxParams(metal_bond_lengths=on))
        assert rows[on]["status"] == "relaxed", rows[on]["error"]
        rows[on]["dy_o"] = _dy_o(out)
    assert abs(rows[True]["dy_o"] - crystal) < 0.08
    assert rows[False]["dy_o"] < crystal - 0.12
    assert rows[True]["volume_change"] > -0.08 > rows[False]["volume_change"]
    assert "Dy-O" in rows[True]["notes"] and "Dy-O" not in rows[False]["notes"]
