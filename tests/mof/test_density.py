import numpy as np
import pytest

from mof.density import atom_density, density_bounds, scale_to_density
from mof.periodic import frac_to_cart, lattice_from_parameters, lattice_parameters


def _skewed() -> np.ndarray:
    return lattice_from_parameters(9.0, 11.0, 14.0, 70.0, 100.0, 115.0)


def test_atom_density_counts_atoms_per_1000_cubic_angstrom():
    # a 10 A cube is 1000 A^3; a skewed cell's volume by the scalar triple product of its rows
    assert atom_density(58, 10.0 * np.eye(3)) == pytest.approx(58.0)
    lat = _skewed()
    volume = abs(np.dot(lat[0], np.cross(lat[1], lat[2])))
    assert atom_density(100, lat) == pytest.approx(1e5 / volume)


@pytest.mark.parametrize("n_atoms", [5, 60, 400])
def test_scaling_brings_the_density_to_the_nearest_bound_and_keeps_the_shape(n_atoms):
    lat = _skewed()
    lo, hi = 30.0, 80.0
    before = atom_density(n_atoms, lat)
    scaled, s = scale_to_density(lat, n_atoms, lo, hi)
    after = atom_density(n_atoms, scaled)
    expected = min(max(before, lo), hi)
    assert after == pytest.approx(expected, rel=1e-9)
    # isotropic: angles kept, every length by the same factor, the returned one
    p0, p1 = lattice_parameters(lat), lattice_parameters(scaled)
    assert np.allclose(p1[3:], p0[3:])
    assert np.allclose(p1[:3] / p0[:3], s)
    assert (s > 1) == (before > hi) and (s < 1) == (before < lo)
    # a fractional point keeps its place relative to the cell: Cartesian positions scale by s
    frac = np.array([[0.1, 0.7, 0.3], [0.5, 0.5, 0.9]])
    assert np.allclose(frac_to_cart(frac, scaled), s * frac_to_cart(frac, lat))


def test_a_density_within_bounds_leaves_the_cell_alone():
    lat = _skewed()
    d = atom_density(100, lat)
    same, s = scale_to_density(lat, 100, d - 1.0, d + 1.0)
    assert s == 1.0 and np.array_equal(same, lat)


def test_bounds_are_quantiles_of_the_structures_densities():
    rng = np.random.default_rng(3)
    cells = [np.diag(rng.uniform(8.0, 20.0, 3)) for _ in range(50)]
    atoms = rng.integers(20, 300, 50)
    dens = sorted(n / np.prod(np.diag(c)) * 1000.0 for n, c in zip(atoms, cells))
    lo, hi = density_bounds(atoms, [c.ravel() for c in cells], (0.0, 1.0))
    assert lo == pytest.approx(dens[0]) and hi == pytest.approx(dens[-1])
    mid, mid2 = density_bounds(atoms, cells, (0.5, 0.5))
    assert mid == mid2 == pytest.approx(np.median(dens))


@pytest.mark.parametrize("q", [(0.9, 0.1), (-0.1, 0.5), (0.5, 1.5)])
def test_bad_quantiles_are_refused(q):
    with pytest.raises(ValueError, match="quantiles"):
        density_bounds([10], [np.eye(3) * 10], q)


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="bounds"):
        scale_to_density(np.eye(3) * 10, 10, 0.0, 5.0)
    with pytest.raises(ValueError, match="no structures"):
        density_bounds([], [], (0.1, 0.9))
