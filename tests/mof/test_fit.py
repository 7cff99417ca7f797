"""Geometric helpers of the assembly fit (``mof.fit``), each against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest

from mof.fit import _images_near

SKEWED = np.array([[9.0, 0.0, 0.0], [7.5, 4.0, 0.0], [-6.0, 2.5, 5.0]])  # strongly sheared


def _brute_images(points, lattice, centre, radius, reach=14):
    """Every image of every point within radius, by enumerating a wide block of shifts."""
    r = np.arange(-reach, reach + 1)
    shifts = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    found = set()
    for m, x in enumerate(points):
        img = x + shifts @ lattice
        for y in img[np.linalg.norm(img - centre, axis=1) < radius]:
            found.add((m, *np.round(y, 6)))
    return found


@pytest.mark.parametrize("lattice", [np.diag([6.0, 7.0, 8.0]), SKEWED], ids=["cubic", "skewed"])
@pytest.mark.parametrize("radius", [3.0, 11.0])
def test_images_near_matches_brute_force(lattice, radius):
    rng = np.random.default_rng(3)
    points = rng.uniform(-20, 20, size=(12, 3))
    centre = rng.uniform(-5, 5, size=3)
    idx, pos = _images_near(points, lattice, centre, radius)
    got = {(int(m), *np.round(y, 6)) for m, y in zip(idx, pos)}
    assert got == _brute_images(points, lattice, centre, radius)
    assert len(got) == len(idx)  # no image twice
    # each returned position is an image of the point it names
    frac = np.linalg.solve(lattice.T, (pos - points[idx]).T).T
    np.testing.assert_allclose(frac, np.round(frac), atol=1e-9)
