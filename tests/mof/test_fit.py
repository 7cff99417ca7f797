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


@pytest.mark.parametrize("lattice", [np.diag([6.0, 7.0, 8.0]), SKEWED], ids=["cubic", "skewed"])
def test_one_image_finder_answers_queries_of_any_radius(lattice):
    """The orientation search asks one ``_Images`` for many centres and radii (its shift grids
    kept between queries): each answer is the brute force's."""
    from mof.fit import _Images

    rng = np.random.default_rng(5)
    images = _Images(lattice)
    for radius in (3.0, 11.0, 7.5, 3.0, 11.0):  # a small grid first, a larger one after
        points = rng.uniform(-20, 20, size=(9, 3))
        centre = rng.uniform(-5, 5, size=3)
        idx, pos = images.near(points, centre, radius)
        got = {(int(m), *np.round(y, 6)) for m, y in zip(idx, pos)}
        assert got == _brute_images(points, lattice, centre, radius)
        assert len(got) == len(idx)


def _brute_score(blk, rot, centre, shift, x_img, u_o, z_o, pz_o, atoms, p):
    """One candidate's score by loops: each CP's cheapest partner, the slide's penalty, and for
    each atom the (at most six) other atoms within the clash distance."""
    total = 0.0
    for m, cp in enumerate(blk.cp_local):
        x = centre + shift + rot @ cp
        u = rot @ (blk.local[blk.cp_atom[m]] - cp)
        z, pz = blk.z[blk.cp_atom[m]], blk.cp_partner_z[m]
        costs = []
        for q in range(len(x_img)):
            bad = int(pz > 0 and z_o[q] != pz) + int(pz_o[q] > 0 and z != pz_o[q])
            d, b = x - x_img[q], u + u_o[q]
            costs.append(d @ d + p.bond_weight * b @ b + p.element_penalty * bad)
        total += min(costs)
    total += p.shift_penalty * len(blk.cp_local) * shift @ shift
    for a in blk.local:
        d = np.sort(np.linalg.norm(atoms - (centre + shift + rot @ a), axis=1))[:6]
        total += p.clash_weight * (np.clip(p.clash_distance - d, 0, None) ** 2).sum()
    return total


def test_orientation_scores_match_a_brute_force_and_pick_its_best():
    from scipy.spatial import cKDTree
    from scipy.spatial.transform import Rotation

    from mof.fit import FitParams, _score_candidates
    from mof.library import LibraryBlock

    rng = np.random.default_rng(7)

    def block(loc):
        return LibraryBlock(
            "b", "linker", rng.choice([6, 7, 8], 8), loc, 1.2 * loc[:3], np.arange(3),
            np.zeros((0, 2)), cp_partner_z=np.array([30, 0, 29]),
        )  # fmt: skip

    base = rng.normal(scale=1.5, size=(8, 3))
    confs = [block(base), block(base + rng.normal(scale=0.3, size=(8, 3)))]
    rots = Rotation.random(40, random_state=3).as_matrix()
    cands = [(confs[i % 2], r) for i, r in enumerate(rots)]
    centre = np.array([1.0, -2.0, 0.5])
    x_img = centre + rng.normal(scale=2.5, size=(7, 3))
    u_o = rng.normal(scale=0.8, size=(7, 3))
    z_o, pz_o = rng.choice([29, 30, 8], 7), rng.choice([0, 6, 8], 7)
    atoms = centre + rng.normal(scale=2.5, size=(60, 3))  # other blocks' atoms: clashes decide
    p = FitParams(clash_distance=1.6, clash_weight=3.0)
    for iterations in (0, 3):
        p.translation_iterations = iterations
        got, shifts = _score_candidates(cands, centre, x_img, u_o, z_o, pz_o, cKDTree(atoms), p)
        brute = np.array(
            [
                _brute_score(b, r, centre, s, x_img, u_o, z_o, pz_o, atoms, p)
                for (b, r), s in zip(cands, shifts)
            ]
        )
        assert np.all(got <= brute + 1e-9)  # exact, or a lower bound for those that cannot win
        assert np.argmin(got) == np.argmin(brute)
        assert got.min() == pytest.approx(brute.min(), rel=1e-12)
        assert (got < brute - 1e-6).any()  # some candidates were skipped: the bound is used


def test_orientation_search_leaves_its_candidates_unchanged(fixture_tables):
    """A candidate may be a view of the placement's own rotation (a block's fitted orientation,
    offered again in a later cycle): the search must not change it while it runs. It did until
    session 19, so a block that moved away from its fitted orientation lost it as a candidate."""
    from scipy.spatial.transform import Rotation

    from mof.assemble.search import AssemblyParams, _candidates, principal_axes
    from mof.fit import Placement, choose_orientations
    from mof.library import load_library

    _, mofs, inst, bb = fixture_tables
    lib = load_library(bb, inst, conformers=8)
    row = mofs.set_index("id").loc["FIQCEN_clean"]
    lat = np.reshape(row["lattice"], (3, 3))
    centres = np.reshape(row["centres_frac"], (-1, 3)) @ lat
    sig = np.reshape(row["sigmas"], (-1, 3, 3))
    blocks = [lib[b] for b in row["block_ids"]]
    p = AssemblyParams()
    cands, order = _candidates(blocks, principal_axes(sig), sig, p, np.random.default_rng(0))
    rots = Rotation.random(len(blocks), random_state=1).as_matrix()  # arbitrary "fitted" ones
    place = Placement(lat, centres.copy(), rots, list(blocks))
    cands = [c + [(place.blocks[i], place.rots[i])] for i, c in enumerate(cands)]
    before = [[r.copy() for _, r in c] for c in cands]
    choose_orientations(place, cands, order, p)
    # blocks left their given orientations (the test has something to catch) ...
    moved = sum(not np.allclose(place.rots[i], b[-1]) for i, b in enumerate(before))
    assert moved > len(blocks) // 2
    # ... and every candidate is as it was
    for c, b in zip(cands, before):
        for (_, r), r0 in zip(c, b):
            np.testing.assert_array_equal(r, r0)
