import numpy as np

from mof.bonds import find_bonds, neighbour_pairs
from mof.elements import atomic_numbers
from mof.periodic import lattice_from_parameters


def test_neighbour_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    lat = lattice_from_parameters(4.0, 5.0, 6.5, 70, 80, 110)  # small, skewed: many images
    frac = rng.random((12, 3))
    cutoff = 5.3
    i, j, sh, d = neighbour_pairs(frac, lat, cutoff)
    got = {(a, b, *s) for a, b, s in zip(i.tolist(), j.tolist(), sh.tolist())}
    want = set()
    r = range(-4, 5)
    for a in range(12):
        for b in range(12):
            for s in ((x, y, z) for x in r for y in r for z in r):
                if a == b and s == (0, 0, 0):
                    continue
                dist = np.linalg.norm((frac[b] + s - frac[a]) @ lat)
                if dist < cutoff and (a < b or (a == b and s > (0, 0, 0))):
                    want.add((a, b, *s))
    assert got == want
    np.testing.assert_allclose(
        d, np.linalg.norm((frac[j] + sh - frac[i]) @ lat, axis=1), atol=1e-10
    )


def test_hkust1_bonds(real_crystals):
    cr = real_crystals["FIQCEN_clean"]
    z = atomic_numbers(cr.species)
    bonds, anomalies = find_bonds(z, cr.frac, cr.lattice)
    assert anomalies["close_contacts"] == 0
    deg = bonds.degree(cr.n_atoms)
    sym = np.array(cr.species)
    assert np.all(deg[sym == "H"] == 1)
    assert np.all(deg[sym == "C"] == 3)
    assert np.all(deg[sym == "O"] == 2)  # C and Cu
    assert np.all(deg[sym == "Cu"] == 5)  # 4 O + the paddlewheel Cu-Cu bond


def test_hydrogen_keeps_one_bond():
    lat = np.eye(3) * 20
    # H between two O at 1.0 and 1.1 A: only the shorter bond stays
    frac = np.array([[0.5, 0.5, 0.5], [0.55, 0.5, 0.5], [0.605, 0.5, 0.5]])
    z = atomic_numbers(["O", "H", "O"])
    bonds, _ = find_bonds(z, frac, lat)
    pairs = {tuple(sorted(p)) for p in zip(bonds.i.tolist(), bonds.j.tolist())}
    assert pairs == {(0, 1)}
