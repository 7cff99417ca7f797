"""The continuous refinement of the assembly fit (``mof.refine``): rotations against scipy, the
hand-written gradient against finite differences, and the loss's symmetries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mof.fit import FitParams, Placement, assign
from mof.library import LibraryBlock
from mof.refine import _Fit, joint_fit, rotation_jacobian, rotation_matrices, skew

SKEWED = np.array([[9.0, 0.0, 0.0], [3.5, 8.0, 0.0], [-2.0, 1.5, 7.0]])


def _placement(seed: int = 1, lattice=SKEWED) -> Placement:
    """Four random rigid blocks (two nodes, two linkers, three CPs each) in a skewed cell."""
    rng = np.random.default_rng(seed)
    blocks = []
    for i in range(4):
        loc = rng.normal(scale=1.5, size=(6, 3))
        kind = "node" if i % 2 == 0 else "linker"
        blocks.append(
            LibraryBlock(
                f"b{i}", kind, np.full(6, 6), loc, 1.3 * loc[:3], np.arange(3), np.zeros((0, 2))
            )
        )
    rots = Rotation.random(4, random_state=seed).as_matrix()
    return Placement(np.array(lattice, float), rng.uniform(0, 9, size=(4, 3)), rots, blocks)


def _problem(place: Placement, p: FitParams, scale: float, lattice_ref=None):
    fit = _Fit(place, p, lattice_ref)
    a, b, sh, _, _ = assign(place, p)
    return fit, ((a, b, sh.astype(float)), fit.clash_terms(place), scale)


@pytest.mark.parametrize("near_zero", [True, False])
def test_rotation_matrices_match_scipy_including_near_zero(near_zero):
    """Rotation vectors of every size, with and without some near zero (where the coefficients
    switch to their series)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 3))
    if near_zero:
        w = np.concatenate([w, 1e-5 * rng.normal(size=(3, 3)), np.zeros((1, 3))])
    np.testing.assert_allclose(
        rotation_matrices(w), Rotation.from_rotvec(w).as_matrix(), atol=1e-13
    )


@pytest.mark.parametrize("size", [1.3, 1e-4, 0.0])
def test_rotation_jacobian_is_the_left_jacobian(size):
    """R(w + h e_i) R(w)^T = I + h [J e_i]x + O(h^2), by central differences of scipy's R."""
    rng = np.random.default_rng(2)
    w = size * rng.normal(size=3) if size else np.zeros(3)
    jac = rotation_jacobian(w[None])[0]
    h = 1e-6
    r0 = Rotation.from_rotvec(w).as_matrix()
    for i in range(3):
        d = np.zeros(3)
        d[i] = h
        rp, rm = (Rotation.from_rotvec(w + s * d).as_matrix() for s in (1, -1))
        np.testing.assert_allclose((rp - rm) @ r0.T / (2 * h), skew(jac[:, i]), atol=1e-8)


def assert_gradient_matches_finite_differences(fit: _Fit, theta: np.ndarray, args) -> None:
    """``fit.loss_grad``'s gradient at ``theta`` against central differences of its loss."""
    _, grad = fit.loss_grad(theta, *args)
    num = np.zeros_like(theta)
    h = 1e-6
    for k in range(len(theta)):
        d = np.zeros_like(theta)
        d[k] = h
        num[k] = (fit.loss_grad(theta + d, *args)[0] - fit.loss_grad(theta - d, *args)[0]) / (2 * h)
    np.testing.assert_allclose(grad, num, atol=1e-6 * max(1.0, np.abs(num).max()))


@pytest.mark.parametrize("max_strain", [0.0, 0.05])
@pytest.mark.parametrize("scale", [0.0, 0.7])
def test_gradient_matches_finite_differences(max_strain, scale):
    p = FitParams(max_strain=max_strain, clash_distance=2.5, translation_weight=0.1)
    fit, args = _problem(_placement(), p, scale, lattice_ref=SKEWED * 1.01)
    assert len(args[1][0]) > 10  # the clash term takes part
    rng = np.random.default_rng(4)
    theta = fit.theta + rng.normal(scale=0.3, size=fit.theta.shape)
    assert_gradient_matches_finite_differences(fit, theta, args)


def _loss(place: Placement, p: FitParams) -> float:
    fit, args = _problem(place, p, 0.0)
    return fit.loss_grad(fit.theta, *args)[0]


def test_loss_is_invariant_under_rotation_translation_lattice_shift_and_permutation():
    p = FitParams(clash_distance=2.5)
    place = _placement(seed=5)
    ref = _loss(place, p)
    assert ref > 1.0
    q = Rotation.from_rotvec([0.4, -1.1, 0.7]).as_matrix()
    rotated = Placement(place.lattice @ q.T, place.centres @ q.T, q @ place.rots, place.blocks)
    moved = Placement(place.lattice, place.centres + [1.3, -7.0, 2.2], place.rots, place.blocks)
    shifted_c = place.centres.copy()
    shifted_c[2] += np.array([1, -2, 1]) @ place.lattice
    shifted = Placement(place.lattice, shifted_c, place.rots, place.blocks)
    perm = np.array([2, 0, 3, 1])
    permuted = Placement(
        place.lattice, place.centres[perm], place.rots[perm], [place.blocks[i] for i in perm]
    )
    for other in (rotated, moved, shifted, permuted):
        assert _loss(other, p) == pytest.approx(ref, rel=1e-9)


def test_joint_fit_lowers_the_loss_and_keeps_the_strain_bound():
    p = FitParams(max_strain=0.03, clash_distance=2.5)
    place = _placement(seed=6)
    before = _loss(place, p)
    out, after = joint_fit(place, p)
    assert after < 0.5 * before
    strain = np.linalg.solve(place.lattice, out.lattice) - np.eye(3)
    assert np.allclose(strain, strain.T) and np.abs(strain).max() < 0.03
    # rotations stay rotations
    np.testing.assert_allclose(
        out.rots @ np.swapaxes(out.rots, 1, 2),
        np.broadcast_to(np.eye(3), out.rots.shape),
        atol=1e-12,
    )
