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


def _periodic_by_supercell(n: int, i, j, shift, reps: int) -> np.ndarray:
    """Brute force: the bond graph copied into a reps^3 supercell; an atom's component is
    periodic when its supercell component holds two images of one atom."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    cells = np.stack(np.meshgrid(*[np.arange(reps)] * 3, indexing="ij"), -1).reshape(-1, 3)
    code = lambda c: (c[..., 0] * reps + c[..., 1]) * reps + c[..., 2]  # noqa: E731
    rows, cols = [], []
    for c in cells:
        rows.append(code(c) * n + np.asarray(i))
        cols.append(code((c + np.asarray(shift)) % reps) * n + np.asarray(j))
    size = len(cells) * n
    r, c = np.concatenate(rows).astype(int), np.concatenate(cols).astype(int)
    m = coo_matrix((np.ones(len(r)), (r, c)), shape=(size, size))
    _, label = connected_components(m, directed=False)
    label = label.reshape(len(cells), n)  # [cell, atom]
    return np.array([len(np.unique(label[:, a])) < len(cells) for a in range(n)])


def test_periodic_atoms_match_a_supercell_brute_force():
    """Random bond graphs with shifts: an atom is periodic exactly when copies of its component
    in a supercell join up (reps 7 exceeds any loop's net shift here, so none closes on itself)."""
    from mof.bonds import periodic_atoms

    rng = np.random.default_rng(3)
    n_periodic = 0
    for _ in range(40):
        n = 6
        b = int(rng.integers(0, 6))
        i, j = rng.integers(0, n, b), rng.integers(0, n, b)
        shift = rng.integers(-1, 2, (b, 3)) * (rng.random((b, 1)) < 0.4)
        keep = (i != j) | np.any(shift != 0, axis=1)
        i, j, shift = i[keep], j[keep], shift[keep]
        got = periodic_atoms(n, i, j, shift)
        np.testing.assert_array_equal(got, _periodic_by_supercell(n, i, j, shift, 7))
        n_periodic += int(got.any())
    assert 5 < n_periodic < 35  # both kinds drawn
    # a loop whose net shift is two cells (A -> B one cell on, B -> A one cell on) is periodic
    assert periodic_atoms(2, np.array([0, 1]), np.array([1, 0]), np.array([[1, 0, 0]] * 2)).all()


def test_periodic_atoms_of_real_structures(real_crystals, cif_dir):
    """Every real fixture's atoms are framework (periodic), as is erbium formate's 13-atom cell
    (triclinic); the water added to HKUST-1's pore is the one finite component. Each agrees
    with the supercell brute force on the bonds find_bonds perceives."""
    from pathlib import Path

    from mof.bonds import periodic_atoms
    from mof.io import read_cif

    crystals = dict(real_crystals)
    crystals["solvent_hkust1"] = read_cif(cif_dir / "solvent_hkust1.cif")
    relax_data = Path(__file__).parents[1] / "data" / "relax"
    crystals["FIGXAU_clean"] = read_cif(relax_data / "FIGXAU_clean.cif")
    for name, cr in crystals.items():
        bonds, _ = find_bonds(atomic_numbers(cr.species), cr.frac, cr.lattice)
        got = periodic_atoms(cr.n_atoms, bonds.i, bonds.j, bonds.shift)
        want = _periodic_by_supercell(cr.n_atoms, bonds.i, bonds.j, bonds.shift, 3)
        np.testing.assert_array_equal(got, want, err_msg=name)
        finite = np.zeros(cr.n_atoms, dtype=bool)
        if name == "solvent_hkust1":
            finite[-3:] = True  # the fixture's last three atoms: the water's O, H, H
        np.testing.assert_array_equal(got, ~finite, err_msg=name)
