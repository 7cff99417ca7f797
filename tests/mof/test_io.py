import warnings

import numpy as np
import pytest

from mof.io import CifError, Crystal, parse_cif, read_cif, write_cif
from mof.periodic import minimum_image
from tests.conftest import REAL_FIXTURES


def _pymatgen(path):
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CifParser(str(path)).parse_structures(primitive=False)[0]


@pytest.mark.parametrize("name", REAL_FIXTURES)
def test_reader_agrees_with_pymatgen(cif_dir, name):
    ours = read_cif(cif_dir / f"{name}.cif")
    ref = _pymatgen(cif_dir / f"{name}.cif")
    assert ours.n_atoms == len(ref)
    np.testing.assert_allclose(np.linalg.norm(ours.lattice, axis=1), ref.lattice.abc, atol=1e-6)
    # every atom of ours has a pymatgen atom of the same element at the same place
    ref_species = np.array([s.specie.symbol for s in ref])
    for sym, f in zip(ours.species, ours.frac):
        cand = ref.frac_coords[ref_species == sym]
        _, cart = minimum_image(cand - f, ours.lattice)
        assert np.linalg.norm(cart, axis=1).min() < 1e-3


def test_write_read_roundtrip(tmp_path, real_crystals):
    cr = real_crystals["FIQCEN_clean"]
    write_cif(tmp_path / "x.cif", cr)
    back = read_cif(tmp_path / "x.cif")
    assert back.species == cr.species
    np.testing.assert_allclose(back.frac, cr.frac, atol=1e-7)
    np.testing.assert_allclose(back.lattice, cr.lattice, atol=1e-5)


def test_bonds_written_are_read_back(tmp_path, real_crystals):
    cr = real_crystals["FIQCEN_clean"]
    assert cr.bonds is None  # the CoRE file lists no bonds
    bonds = np.array([[0, 5], [7, 3], [10, 11]])
    write_cif(tmp_path / "x.cif", cr, bonds)
    back = read_cif(tmp_path / "x.cif")
    np.testing.assert_array_equal(back.bonds, bonds)


def test_truncated_cif_is_an_error(cif_dir):
    with pytest.raises(CifError, match="truncated"):
        read_cif(cif_dir / "broken_truncated.cif")


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("hello world\n", "no data_"),
        ("data_x\n_cell_length_a 5\n", "missing cell"),
        (
            "data_x\n_cell_length_a 5\n_cell_length_b 5\n_cell_length_c 5\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
            "loop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
            "_atom_site_fract_z\nXx 0 0 0\n",
            "unknown element",
        ),
    ],
)
def test_bad_cifs_raise_with_reason(text, match):
    with pytest.raises(CifError, match=match):
        parse_cif(text, "bad")


def test_uncertainties_and_labels_only():
    text = (
        "data_y\n_cell_length_a 5.0(1)\n_cell_length_b 5\n_cell_length_c 5\n"
        "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
        "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
        "Cu1 0.1(2) 0 0\nCL2 0.5 0.5 0.5\n"
    )
    cr = parse_cif(text, "y")
    assert cr.species == ["Cu", "Cl"]
    assert cr.frac[0, 0] == pytest.approx(0.1)


def test_formula_hill_order():
    cr = Crystal("f", np.eye(3) * 5, ["O", "Cu", "H", "C", "C"], np.zeros((5, 3)))
    assert cr.formula == "C2HCuO"  # Hill system: C, H, then alphabetical; no count of 1
    no_carbon = Crystal("g", np.eye(3) * 5, ["O", "Zn", "H", "H", "O"], np.zeros((5, 3)))
    assert no_carbon.formula == "H2O2Zn"  # without carbon, everything alphabetical


@pytest.mark.parametrize(
    "label, element",
    [
        ("C12", "C"),
        ("H3", "H"),
        ("O", "O"),
        ("Cu1", "Cu"),
        ("Cu2+", "Cu"),
        ("CU1", "Cu"),
        ("ZN1", "Zn"),
        ("CO1", "Co"),
        ("NI2", "Ni"),
        ("cl3", "Cl"),
        ("Cx", "C"),
        ("Ho1", "Ho"),
        ("HO1", "H"),
        ("HN2", "H"),
        ("HC3A", "H"),
        ("HF1", "Hf"),
        ("HG1", "Hg"),
    ],
)
def test_element_from_label(label, element):
    from mof.io import _element_uncached

    assert _element_uncached(label) == element


def test_upper_case_hydroxyl_hydrogen_label_is_hydrogen():
    """Without _atom_site_type_symbol the labels name the elements; HO1 is an H on an O."""
    text = """data_x
_cell_length_a 10
_cell_length_b 10
_cell_length_c 10
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
CU1 0.0 0.0 0.0
O1 0.2 0.0 0.0
HO1 0.29 0.0 0.0
"""
    assert parse_cif(text, "x").species == ["Cu", "O", "H"]
