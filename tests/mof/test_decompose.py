"""Decomposition: exact reconstruction, connection-point pairing, Sigma equivariance, rejects."""

from collections import Counter

import numpy as np
import pytest

from mof.crystal import Crystal
from mof.decompose import DecomposeParams, Rejection, decompose
from mof.io import read_cif
from mof.periodic import minimum_image, wrap


def _decomposed(crystals):
    out = []
    for cr in crystals:
        try:
            out.append((cr, decompose(cr)))
        except Rejection:
            pass
    return out


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def assert_exact_reconstruction(cr: Crystal, dec) -> None:
    idx, z, frac = dec.reconstruct()
    # every atom exactly once, same element
    assert sorted(idx.tolist()) == list(range(cr.n_atoms))
    assert [cr.species[i] for i in idx] == [
        __import__("mof.elements", fromlist=["symbol"]).symbol(int(v)) for v in z
    ]
    _, cart = minimum_image(frac - wrap(cr.frac[idx]), cr.lattice)
    assert np.abs(np.linalg.norm(cart, axis=1)).max() < 1e-4


def assert_connection_points_pair(dec) -> None:
    labels, pos = dec.connection_points_frac()
    assert len(pos) > 0 and len(pos) % 2 == 0
    for k in range(len(pos)):
        _, cart = minimum_image(pos - pos[k], dec.lattice)
        close = np.flatnonzero(np.linalg.norm(cart, axis=1) < 1e-4)
        others = [c for c in close if c != k]
        assert len(others) == 1, f"point {labels[k]} matches {len(others)} others"
        b, c = labels[others[0]]
        assert b != labels[k][0]
        partner = dec.blocks[labels[k][0]].cp_partner[labels[k][1]]
        assert tuple(partner) == (b, c)


def test_sample_has_enough_decomposed(core_mof_sample):
    decs = _decomposed(core_mof_sample)
    assert len(core_mof_sample) == 40
    assert len(decs) >= 28  # CoRE MOF ASR: ~87% of non-disordered <= 500-atom cells decompose


def test_exact_reconstruction_core_mof_sample(core_mof_sample):
    decs = _decomposed(core_mof_sample)
    assert decs
    for cr, dec in decs:
        assert_exact_reconstruction(cr, dec)


def test_connection_points_pair_core_mof_sample(core_mof_sample):
    for _, dec in _decomposed(core_mof_sample):
        assert_connection_points_pair(dec)


def test_reconstruction_and_pairing_fixtures(real_crystals):
    for cr in real_crystals.values():
        dec = decompose(cr)
        assert_exact_reconstruction(cr, dec)
        assert_connection_points_pair(dec)


@pytest.mark.parametrize(
    "name, expected",
    [
        # HKUST-1: 6 Cu2 paddlewheels (8 connections) + 8 BTC (6)
        ("FIQCEN_clean", {("node", 2, 8): 6, ("linker", 18, 6): 8}),
        # MOF-5: 2 Zn4O (12) + 6 BDC (4)
        ("EDUSIF_clean", {("node", 5, 12): 2, ("linker", 16, 4): 6}),
        # ZIF-8: 6 Zn (4) + 12 mIm (2)
        ("OFERUN_clean", {("node", 1, 4): 6, ("linker", 11, 2): 12}),
    ],
)
def test_known_mofs_decompose_as_expected(real_crystals, name, expected):
    dec = decompose(real_crystals[name])
    got = Counter((b.kind, b.n_atoms, b.n_connections) for b in dec.blocks)
    assert dict(got) == expected
    # instances of one building block share one identity
    by_shape = {}
    for b in dec.blocks:
        by_shape.setdefault((b.kind, b.n_atoms), set()).add(b.block_id)
    assert all(len(ids) == 1 for ids in by_shape.values())


def test_sigma_spd_and_rotation_equivariant(real_crystals):
    rng = np.random.default_rng(3)
    for cr in real_crystals.values():
        dec = decompose(cr)
        q = _random_rotation(rng)
        rotated = Crystal(cr.id, cr.lattice @ q.T, cr.species, cr.frac, cr.occupancy)
        dec_r = decompose(rotated)
        assert len(dec_r.blocks) == len(dec.blocks)
        for b, br in zip(dec.blocks, dec_r.blocks):
            assert np.array_equal(b.atom_indices, br.atom_indices)
            np.testing.assert_allclose(b.sigma, b.sigma.T, atol=1e-12)
            assert np.linalg.eigvalsh(b.sigma).min() >= 0.05 - 1e-12
            np.testing.assert_allclose(br.sigma, q @ b.sigma @ q.T, atol=1e-8)
            dc = br.centre_frac - b.centre_frac
            np.testing.assert_allclose(dc - np.round(dc), 0, atol=1e-9)
            lam = np.linalg.eigvalsh(b.sigma)
            if np.diff(lam).min() > 1e-2 and lam.min() > 0.05 + 1e-2:
                # well-defined principal axes: the local frame rotates with the structure
                np.testing.assert_allclose(br.local, b.local, atol=1e-6)
            assert br.block_id == b.block_id


def test_translation_and_permutation_invariance(real_crystals):
    cr = real_crystals["EDUSIF_clean"]
    rng = np.random.default_rng(5)
    t = rng.random(3)
    perm = rng.permutation(cr.n_atoms)
    moved = Crystal(cr.id, cr.lattice, [cr.species[i] for i in perm], cr.frac[perm] + t)
    dec, dec_m = decompose(cr), decompose(moved)
    assert Counter(b.block_id for b in dec.blocks) == Counter(b.block_id for b in dec_m.blocks)
    c0 = np.stack([b.centre_frac for b in dec.blocks])
    c1 = np.stack([b.centre_frac for b in dec_m.blocks])
    for c in c0:  # every centre has its translated counterpart
        _, cart = minimum_image(c1 - (c + t), cr.lattice)
        assert np.linalg.norm(cart, axis=1).min() < 1e-6
    s0 = sorted(np.round(np.linalg.eigvalsh(b.sigma), 8).tolist() for b in dec.blocks)
    s1 = sorted(np.round(np.linalg.eigvalsh(b.sigma), 8).tolist() for b in dec_m.blocks)
    np.testing.assert_allclose(s0, s1, atol=1e-6)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("nometal_mof5", "no_metal"),
        ("solvent_hkust1", "isolated_molecule"),
        ("ECEZAO01_clean", "periodic_component"),
    ],
)
def test_rejections(cif_dir, name, reason):
    with pytest.raises(Rejection) as exc:
        decompose(read_cif(cif_dir / f"{name}.cif"))
    assert exc.value.reason == reason
    assert exc.value.detail


def test_drop_isolated_molecules_option(cif_dir):
    cr = read_cif(cif_dir / "solvent_hkust1.cif")
    dec = decompose(cr, DecomposeParams(drop_isolated_molecules=True))
    assert dec.n_dropped_molecules == 1
    assert len(dec.blocks) == 14


def test_partial_occupancy_is_disorder(real_crystals):
    cr = real_crystals["FIQCEN_clean"]
    occ = np.ones(cr.n_atoms)
    occ[3] = 0.5
    with pytest.raises(Rejection, match="disorder"):
        decompose(Crystal(cr.id, cr.lattice, cr.species, cr.frac, occ))


def test_overlapping_atoms_are_a_geometry_anomaly(real_crystals):
    cr = real_crystals["FIQCEN_clean"]
    frac = np.vstack([cr.frac, cr.frac[:1] + 0.01])
    with pytest.raises(Rejection, match="geometry_anomaly"):
        decompose(Crystal(cr.id, cr.lattice, cr.species + [cr.species[0]], frac))


def test_too_many_blocks(real_crystals):
    with pytest.raises(Rejection, match="too_many_blocks"):
        decompose(real_crystals["OFERUN_clean"], DecomposeParams(max_blocks=10))
