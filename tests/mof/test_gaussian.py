import numpy as np
import pytest

from mof.gaussian import gyration_tensor, principal_frame


def test_principal_frame_properties():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(30, 3)) * [3.0, 1.5, 0.5]
    c, r, sigma = principal_frame(pts, floor=0.01)
    np.testing.assert_allclose(c, pts.mean(0))
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    _, g = gyration_tensor(pts)
    np.testing.assert_allclose(sigma, g, atol=1e-12)  # floor inactive here
    lam = np.diag(r.T @ sigma @ r)
    assert np.all(np.diff(lam) <= 0)  # largest variance first


def test_floor_makes_degenerate_blocks_invertible():
    pts = np.array([[0.0, 0, 0], [1.0, 0, 0]])  # a 1-connected single atom: a line
    _, _, sigma = principal_frame(pts, floor=0.05)
    lam = np.linalg.eigvalsh(sigma)
    np.testing.assert_allclose(lam, [0.05, 0.05, 0.25], atol=1e-12)


def test_equivariance_under_rotation():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(12, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    _, r0, s0 = principal_frame(pts, 0.01)
    _, r1, s1 = principal_frame(pts @ q.T, 0.01)
    np.testing.assert_allclose(s1, q @ s0 @ q.T, atol=1e-10)
    # local coordinates are the same up to the frame's sign convention (equal for proper q)
    if np.linalg.det(q) > 0:
        np.testing.assert_allclose(
            (pts - pts.mean(0)) @ r0, (pts @ q.T - (pts @ q.T).mean(0)) @ r1, atol=1e-8
        )


def test_bad_floor():
    with pytest.raises(ValueError):
        principal_frame(np.zeros((2, 3)), 0.0)
