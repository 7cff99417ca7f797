"""Blocks cut into rigid fragments at rotatable bonds (``mof.fragments``), and the fit in which
torsions move (``FitParams.torsions``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mof.fit import FitParams, Placement, assign
from mof.fragments import merge, rotatable_bonds, split
from mof.library import LibraryBlock
from mof.refine import _Fit, joint_fit
from tests.mof.test_refine import assert_gradient_matches_finite_differences

CELL = np.array([[24.0, 0.0, 0.0], [4.0, 22.0, 0.0], [-3.0, 2.0, 23.0]])
CHAIN = np.array(
    [[0, 0, 0], [1.25, 0.85, 0], [2.5, 0, 0], [3.75, 0.85, 0], [5.0, 0, 0], [6.25, 0.85, 0]],
    dtype=float,
)
CHAIN_BONDS = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
END_0, END_5 = np.array([-0.6, -0.4, 0.9]), np.array([0.6, 0.4, 0.9])  # half-bonds to the metals


def _chain(atoms=CHAIN) -> LibraryBlock:
    """A zigzag chain of six carbons whose end atoms carry a connection point each."""
    return LibraryBlock(
        "chain",
        "linker",
        np.full(6, 6),
        atoms - atoms.mean(axis=0),
        np.array([atoms[0] + END_0, atoms[5] + END_5]) - atoms.mean(axis=0),
        np.array([0, 5]),
        CHAIN_BONDS,
    )


def _metal(half_bond: np.ndarray) -> LibraryBlock:
    """A one-atom node whose connection point is ``half_bond`` away from it."""
    return LibraryBlock(
        "metal", "node", np.array([30]), np.zeros((1, 3)), -half_bond[None], np.array([0]), []
    )


def _twisted(angle: float) -> np.ndarray:
    """CHAIN with atoms 3-5 turned by ``angle`` (radians) about the bond 2-3."""
    axis = CHAIN[3] - CHAIN[2]
    rot = Rotation.from_rotvec(angle * axis / np.linalg.norm(axis)).as_matrix()
    out = CHAIN.copy()
    out[3:] = CHAIN[2] + (CHAIN[3:] - CHAIN[2]) @ rot.T
    return out, rot


def test_rotatable_bonds_of_a_chain_a_ring_and_a_linear_group():
    # the chain: every C-C bond with two carbons on each side (not the end ones)
    np.testing.assert_array_equal(rotatable_bonds(_chain()), [[1, 2], [2, 3], [3, 4]])
    # a ring with two two-carbon arms: the ring's bonds are in a cycle, the arms' bonds rotate
    ang = np.arange(6) * np.pi / 3
    ring = np.stack([1.4 * np.cos(ang), 1.4 * np.sin(ang), np.zeros(6)], 1)
    arms = np.array([[2.9, 0, 0.0], [3.6, 1.2, 0], [-2.9, 0, 0], [-3.6, -1.2, 0]])
    bonds = [[i, (i + 1) % 6] for i in range(6)] + [[0, 6], [6, 7], [3, 8], [8, 9]]
    blk = LibraryBlock("r", "linker", np.full(10, 6), np.vstack([ring, arms]), [], [], bonds)
    np.testing.assert_array_equal(rotatable_bonds(blk), [[0, 6], [3, 8]])
    # a bond whose far side lies on its axis (a nitrile) turns nothing: not rotatable
    line = np.array([[0, 0, 0], [1.2, 0.8, 0], [2.6, 0.8, 0], [3.75, 0.8, 0]], dtype=float)
    blk = LibraryBlock(
        "n", "linker", np.array([6, 6, 6, 7]), line, [], [], [[0, 1], [1, 2], [2, 3]]
    )
    assert len(rotatable_bonds(blk)) == 0
    # hydrogens do not count as the second atom of a side
    blk = LibraryBlock(
        "h", "linker", np.array([6, 6, 6, 1]), line, [], [], [[0, 1], [1, 2], [2, 3]]
    )
    assert len(rotatable_bonds(blk)) == 0


def _placement(seed: int = 0) -> Placement:
    rng = np.random.default_rng(seed)
    blocks = [_chain(), _metal(END_0), _chain(_twisted(0.7)[0]), _metal(END_5)]
    rots = Rotation.random(4, random_state=seed).as_matrix()
    return Placement(CELL.copy(), rng.uniform(0, 20, size=(4, 3)), rots, blocks)


def test_split_then_merge_gives_the_blocks_back():
    place = _placement()
    fr = split(place)
    assert len(fr.place.blocks) == 2 * 4 + 2 and len(fr.fa) == 2 * 3
    assert fr.place.blocks[fr.parent.tolist().index(1)] is place.blocks[1]  # not cut: the same
    back = merge(fr, fr.place)
    for i, blk in enumerate(place.blocks):
        new = back.blocks[i]
        for a, b in ((blk.local, new.local), (blk.cp_local, new.cp_local)):
            np.testing.assert_allclose(
                place.centres[i] + a @ place.rots[i].T, back.centres[i] + b @ back.rots[i].T
            )
        np.testing.assert_array_equal(new.cp_atom, blk.cp_atom)
    # every atom and connection point is in exactly one fragment
    assert sorted(np.concatenate([fr.atoms[f] for f in np.flatnonzero(fr.parent == 0)])) == list(
        range(6)
    )


@pytest.mark.parametrize("angle", [0.3, 1.2, np.pi / 2])
def test_a_torsion_costs_the_torsion_term_only(angle):
    """Turning the far side of a joint about its bond costs torsion_weight * 2 (1 - cos angle)
    (|d - R d|^2 for a unit d across the axis), and nothing from the joint's bond terms."""
    p = FitParams(torsions=True, torsion_weight=0.7)
    place = Placement(CELL.copy(), np.array([[5.0, 5, 5]]), np.eye(3)[None], [_chain()])
    fr = split(place)
    fit = _Fit(fr.place, p, None, fr)
    twisted, rot = _twisted(angle)
    theta = fit.theta.copy()
    k = len(fr.place.blocks)
    pull = 0.0
    for f, atoms in enumerate(fr.atoms):
        if atoms.min() >= 3:  # the far side: each fragment turns about its own centre
            shift = 5.0 + (twisted[atoms] - CHAIN.mean(axis=0)).mean(axis=0) - fr.place.centres[f]
            theta[3 * f : 3 * f + 3] = Rotation.from_matrix(rot).as_rotvec()
            theta[3 * k + 3 * f : 3 * k + 3 * f + 3] = shift
            pull += p.translation_weight * fit.pull[f] * float((shift**2).sum())
    no_pairs = (np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3)))
    no_clash = (
        np.zeros(0, int),
        np.zeros(0, int),
        np.zeros((0, 3)),
        np.zeros(0, int),
        np.zeros((0, 3)),
    )
    loss, _ = fit.loss_grad(theta, no_pairs, no_clash, 0.0)
    assert loss - pull == pytest.approx(0.7 * 2 * (1 - np.cos(angle)), rel=1e-9)


@pytest.mark.parametrize("max_strain", [0.0, 0.05])
def test_gradient_with_fragments_matches_finite_differences(max_strain):
    p = FitParams(max_strain=max_strain, clash_distance=2.5, translation_weight=0.1, torsions=True)
    place = _placement(seed=1)
    place.centres[:] = [[3.0, 3, 3], [5.0, 3.5, 3.2], [4.0, 5.5, 4], [6.5, 5, 4.5]]
    fr = split(place)
    fit = _Fit(fr.place, p, CELL * 1.01, fr)
    a, b, sh, _, _ = assign(fr.place, p)
    args = ((a, b, sh.astype(float)), fit.clash_terms(fr.place), 0.7)
    assert len(args[1][0]) > 5  # clashes take part
    theta = fit.theta + np.random.default_rng(2).normal(scale=0.3, size=fit.theta.shape)
    assert_gradient_matches_finite_differences(fit, theta, args)


def test_torsions_let_a_twisted_linker_meet_its_metals():
    """Two metals placed for a chain twisted by 90 degrees, all blocks held near their places
    (``translation_weight`` 20): the rigid (untwisted) chain cannot meet both; with torsions
    free the fit twists it and closes most of both gaps."""
    twisted, rot = _twisted(np.pi / 2)
    origin = np.array([8.0, 8.0, 8.0])
    metal_0 = origin + twisted[0] + 2 * END_0
    metal_5 = origin + twisted[5] + 2 * END_5 @ rot.T
    blocks = [_chain(), _metal(END_0), _metal(END_5 @ rot.T)]
    centres = np.array([origin + CHAIN.mean(axis=0), metal_0, metal_5])
    place = Placement(CELL.copy(), centres, np.stack([np.eye(3)] * 3), blocks)
    gaps = {}
    for torsions in (False, True):
        p = FitParams(torsions=torsions, translation_weight=20.0)
        out, _ = joint_fit(place, p)
        gaps[torsions] = assign(out, p)[3].max()
    assert gaps[False] > 0.6
    assert gaps[True] < 0.5 * gaps[False]
