"""The Crystal and the one Hill formula that the cell and the building blocks share."""

import numpy as np
import pytest

from mof.cifcheck import CifError
from mof.crystal import Crystal, hill_formula
from mof.decompose import formula_of
from mof.elements import atomic_numbers


@pytest.mark.parametrize(
    ("species", "formula"),
    [
        (["Zn", "O", "C", "C", "H", "O", "O", "O", "C"] + ["C"] * 5 + ["H"] * 3, "C8H4O4Zn"),
        (["O", "Cu"], "CuO"),
        (["H", "O", "H"], "H2O"),  # no carbon: alphabetical, H included
        (["Cl", "C", "Cl", "H"], "CHCl2"),
    ],
)
def test_hill_formula_of_the_cell_and_of_a_block_agree(species, formula):
    assert hill_formula(species) == formula
    assert Crystal("x", np.eye(3) * 5, species, np.zeros((len(species), 3))).formula == formula
    assert formula_of(atomic_numbers(species)) == formula


def test_a_crystal_needs_one_site_per_species():
    with pytest.raises(CifError, match="2 species but 1 sites"):
        Crystal("x", np.eye(3), ["C", "O"], np.zeros((1, 3)))
    cr = Crystal("y", np.eye(3).ravel(), ["C"], [0.1, 0.2, 0.3])
    assert cr.lattice.shape == (3, 3) and cr.frac.shape == (1, 3)
    assert cr.occupancy.tolist() == [1.0] and cr.cart.tolist() == [[0.1, 0.2, 0.3]]
