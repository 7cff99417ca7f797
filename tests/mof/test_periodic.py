import numpy as np
import pytest

from mof.periodic import (
    cart_to_frac,
    cell_volume,
    frac_to_cart,
    lattice_from_parameters,
    lattice_parameters,
    minimum_image,
    wrap,
)


def test_wrap_range_and_tiny_negatives():
    f = np.array([[-1e-17, 1.0, 2.5], [-0.25, 0.999999, -3.0]])
    w = wrap(f)
    assert np.all(w >= 0) and np.all(w < 1)
    np.testing.assert_allclose(w, [[0, 0, 0.5], [0.75, 0.999999, 0]], atol=1e-12)


def test_lattice_parameters_roundtrip():
    params = (9.8, 10.7, 13.97, 95.3, 110.5, 74.7)
    lat = lattice_from_parameters(*params)
    np.testing.assert_allclose(lattice_parameters(lat), params, atol=1e-10)
    assert cell_volume(lat) > 0


def test_impossible_angles_raise():
    with pytest.raises(ValueError):
        lattice_from_parameters(5, 5, 5, 150, 150, 150)


def test_frac_cart_roundtrip():
    rng = np.random.default_rng(0)
    lat = lattice_from_parameters(7, 9, 11, 80, 100, 115)
    f = rng.random((20, 3))
    np.testing.assert_allclose(cart_to_frac(frac_to_cart(f, lat), lat), f, atol=1e-12)


def test_minimum_image_matches_brute_force_in_skewed_cell():
    rng = np.random.default_rng(1)
    lat = lattice_from_parameters(6, 6, 15, 60, 70, 40)
    d = rng.uniform(-2, 2, size=(200, 3))
    dmin, cart = minimum_image(d, lat)
    shifts = np.array([[i, j, k] for i in range(-3, 4) for j in range(-3, 4) for k in range(-3, 4)])
    brute = np.linalg.norm((d[:, None, :] + shifts[None]) @ lat, axis=2).min(axis=1)
    np.testing.assert_allclose(np.linalg.norm(cart, axis=1), brute, atol=1e-10)
    # still the same point modulo the lattice
    np.testing.assert_allclose((dmin - d) - np.round(dmin - d), 0, atol=1e-12)
