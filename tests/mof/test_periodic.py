import numpy as np
import pytest

from mof.periodic import (
    cart_to_frac,
    cell_volume,
    cell_widths,
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


@pytest.mark.parametrize("seed", range(4))
def test_pair_min_image_is_exact_in_strongly_sheared_cells(seed):
    """Cells sheared by up to three cell lengths, where rounding fractional differences (or even
    searching the 27 neighbours in the given basis) misses the nearest image."""
    from mof.periodic import lll_reduce, pair_min_image

    rng = np.random.default_rng(seed)
    lat = np.diag(rng.uniform(5, 15, 3))
    lat[1, 0] = rng.uniform(-3, 3) * lat[0, 0]
    lat[2, :2] = rng.uniform(-25, 25, 2)
    red, t = lll_reduce(lat)
    np.testing.assert_allclose(red, t @ lat, atol=1e-9)
    assert round(abs(np.linalg.det(t))) == 1
    a = rng.uniform(0, 1, (12, 3)) @ lat
    b = rng.uniform(0, 1, (15, 3)) @ lat
    vec, shift = pair_min_image(a, b, lat)
    np.testing.assert_allclose(vec, b[None] + shift @ lat - a[:, None], atol=1e-9)
    r = range(-14, 15)  # wide enough for these shears (reduced vectors need coefficients ~ 11)
    n = np.array([[i, j, k] for i in r for j in r for k in r])
    imgs = b[None, :, :] + (n @ lat)[:, None, :]  # (S, Q, 3)
    brute = np.stack([np.linalg.norm(imgs - x, axis=-1).min(axis=0) for x in a])  # (P, Q)
    np.testing.assert_allclose(np.linalg.norm(vec, axis=-1), brute, atol=1e-9)
    # the naive rounding of fractional differences is wrong for some pairs in these cells
    df = (b[None] - a[:, None]) @ np.linalg.inv(lat)
    naive = np.linalg.norm((df - np.round(df)) @ lat, axis=-1)
    assert np.any(naive > brute + 0.1)


@pytest.mark.parametrize(
    "params",
    [(7, 9, 11, 90, 90, 90), (9.8, 10.7, 13.97, 95.3, 110.5, 74.7), (6, 20, 8, 70, 100, 125)],
)
def test_cell_widths_are_the_distances_between_opposite_faces(params):
    """Checked against the shortest vector a + s b + t c (least squares over s, t): the distance
    between the two faces spanned by b and c; orthogonal cells give their edge lengths."""
    lat = lattice_from_parameters(*params)
    widths = cell_widths(lat)
    for i in range(3):
        j, k = [x for x in range(3) if x != i]
        st, *_ = np.linalg.lstsq(lat[[j, k]].T, -lat[i], rcond=None)
        shortest = np.linalg.norm(lat[i] + st @ lat[[j, k]])
        assert widths[i] == pytest.approx(shortest, rel=1e-10)
    if params[3:] == (90, 90, 90):
        np.testing.assert_allclose(widths, params[:3])
    rot = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    np.testing.assert_allclose(cell_widths(lat @ rot.T), widths, rtol=1e-10)
