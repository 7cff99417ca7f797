"""Contacts relative to covalent radii (:func:`mof.screen.closest_contact_ratio`)."""

import numpy as np
import pytest

from mof.elements import atomic_numbers, covalent_radii
from mof.io import read_cif
from mof.periodic import lattice_from_parameters
from mof.screen import closest_contact_ratio


def _brute_force(frac, lattice, species):
    radii = covalent_radii(atomic_numbers(species))
    best = (np.inf, -1, -1)
    shifts = np.array([[a, b, c] for a in range(-3, 4) for b in range(-3, 4) for c in range(-3, 4)])
    for i in range(len(frac)):
        for j in range(i, len(frac)):
            d = np.linalg.norm((frac[j] - frac[i] + shifts) @ lattice, axis=1)
            if i == j:
                d = d[np.any(shifts != 0, axis=1)]
            q = d.min() / (radii[i] + radii[j])
            if q < best[0]:
                best = (q, i, j)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_contact_ratio_matches_brute_force_in_a_skewed_cell(seed):
    rng = np.random.default_rng(seed)
    lattice = lattice_from_parameters(5.0, 6.0, 7.0, 60.0, 115.0, 70.0)
    species = list(rng.choice(["C", "H", "O", "Zn", "Yb"], size=12))
    frac = rng.random((12, 3))
    ratio, i, j, d = closest_contact_ratio(frac, lattice, species)
    q, bi, bj = _brute_force(frac, lattice, species)
    if q >= 1.0:
        assert ratio == np.inf and (i, j) == (-1, -1)
    else:
        assert ratio == pytest.approx(q, rel=1e-9) and {i, j} == {bi, bj}
        radii = covalent_radii(atomic_numbers([species[i], species[j]]))
        assert d == pytest.approx(q * radii.sum(), rel=1e-9)


def test_real_mofs_keep_their_atoms_apart_and_a_squeezed_pair_is_found(cif_dir):
    """HKUST-1's closest pair is a bond (C-H or C-O, above 0.9 of the radii's sum); two Cu
    moved 1.6 A apart (0.61 of their sum) are the closest pair."""
    cr = read_cif(cif_dir / "FIQCEN_clean.cif")
    ratio, i, j, _ = closest_contact_ratio(cr.frac, cr.lattice, cr.species)
    assert 0.8 < ratio < 1.0
    cu = [k for k, s in enumerate(cr.species) if s == "Cu"]
    a = cu[0]
    b = min(cu[1:], key=lambda k: np.linalg.norm((cr.frac[k] - cr.frac[a]) @ cr.lattice))
    frac = cr.frac.copy()
    step = (frac[b] - frac[a]) @ cr.lattice
    frac[b] = frac[a] + (1.6 * step / np.linalg.norm(step)) @ np.linalg.inv(cr.lattice)
    ratio, i, j, d = closest_contact_ratio(frac, cr.lattice, cr.species)
    assert {i, j} == {a, b} and d == pytest.approx(1.6, abs=1e-9)
    assert ratio == pytest.approx(1.6 / 2.64, abs=0.01)
