"""Symmetry tests of the IGA denoiser: rotation, translation, lattice shifts, permutation."""

import itertools

import pytest
import torch

from model.geometry import lattice_from_params, wrap
from model.iga import IGADenoiser, periodic_overlap

TOL = {torch.float64: 1e-8, torch.float32: 2e-4}


def _rotation(gen, dtype):
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def _structure(dtype, b=2, k=6, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = torch.tensor(
        [[9.0, 11.0, 10.0, 80.0, 100.0, 110.0], [12.0, 12.5, 8.5, 90.0, 95.0, 70.0]],
        dtype=torch.float64,
    )[:b]
    lattice = lattice_from_params(params).to(dtype)
    mu = torch.rand(b, k, 3, generator=g, dtype=torch.float64).to(dtype)
    a = torch.randn(b, k, 3, 3, generator=g, dtype=torch.float64)
    sigma = (a @ a.transpose(-1, -2) + 0.3 * torch.eye(3, dtype=torch.float64)).to(dtype)
    s = torch.randn(b, k, d, generator=g, dtype=torch.float64).to(dtype)
    mask = torch.ones(b, k, dtype=torch.bool)
    mask[1, -1] = False
    t = torch.tensor([0.3, 0.8], dtype=dtype)[:b]
    return mu, sigma, s, lattice, t, mask


def _net(dtype):
    torch.manual_seed(0)
    net = IGADenoiser(emb_dim=8, dim=32, layers=2, heads=4).to(dtype).eval()
    # make the geometric updates large enough to matter in the tests
    with torch.no_grad():
        for layer in net.layers:
            for lin in (layer.mu_gate, layer.sigma_gate, layer.sigma_scale):
                lin.weight.normal_(std=0.3)
    return net


def _frac_close(a, b, mask, tol):
    d = (a - b)[mask]
    torch.testing.assert_close(d - torch.round(d), torch.zeros_like(d), atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rotation_invariance(dtype):
    mu, sigma, s, lat, t, mask = _structure(dtype)
    net = _net(dtype)
    q = _rotation(torch.Generator().manual_seed(3), dtype)
    with torch.no_grad():
        ref = net(mu, sigma, s, lat, t, mask)
        rot = net(mu, q @ sigma @ q.T, s, lat @ q.T, t, mask)
    tol = TOL[dtype]
    _frac_close(rot["mu"], ref["mu"], mask, tol)
    torch.testing.assert_close(
        rot["sigma"][mask], (q @ ref["sigma"] @ q.T)[mask], atol=tol, rtol=tol
    )
    torch.testing.assert_close(rot["s"][mask], ref["s"][mask], atol=tol, rtol=tol)
    torch.testing.assert_close(rot["y"], ref["y"], atol=tol, rtol=tol)
    # the update is not trivial: outputs moved away from the inputs
    assert (ref["mu"] - mu)[mask].abs().max() > 1e-3


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_translation_and_lattice_shift_invariance(dtype):
    mu, sigma, s, lat, t, mask = _structure(dtype)
    net = _net(dtype)
    tol = TOL[dtype]
    with torch.no_grad():
        ref = net(mu, sigma, s, lat, t, mask)
        shift = torch.tensor([0.31, -0.12, 0.77], dtype=dtype)
        tr = net(wrap(mu + shift), sigma, s, lat, t, mask)
        moved = mu.clone()
        moved[0, 2] += torch.tensor([1.0, -2.0, 1.0], dtype=dtype)
        moved[1, 0] += torch.tensor([0.0, 1.0, 0.0], dtype=dtype)
        ls = net(moved, sigma, s, lat, t, mask)
    _frac_close(tr["mu"], ref["mu"] + shift, mask, tol)
    _frac_close(ls["mu"], ref["mu"], mask, tol)
    for out in (tr, ls):
        torch.testing.assert_close(out["sigma"][mask], ref["sigma"][mask], atol=tol, rtol=tol)
        torch.testing.assert_close(out["s"][mask], ref["s"][mask], atol=tol, rtol=tol)
        torch.testing.assert_close(out["y"], ref["y"], atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_permutation_equivariance_and_padding(dtype):
    mu, sigma, s, lat, t, mask = _structure(dtype)
    net = _net(dtype)
    tol = TOL[dtype]
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        ref = net(mu[:1], sigma[:1], s[:1], lat[:1], t[:1], mask[:1])
        p = net(mu[:1, perm], sigma[:1, perm], s[:1, perm], lat[:1], t[:1], mask[:1])
        # extra padded blocks change nothing for the real ones
        pad = lambda x, v: torch.cat([x, v.expand(1, 2, *x.shape[2:])], 1)  # noqa: E731
        padded = net(
            pad(mu[:1], torch.zeros(3, dtype=dtype)),
            pad(sigma[:1], torch.eye(3, dtype=dtype)),
            pad(s[:1], s[0, :1] * 0 + 5),
            lat[:1],
            t[:1],
            torch.cat([mask[:1], torch.zeros(1, 2, dtype=torch.bool)], 1),
        )
    _frac_close(p["mu"], ref["mu"][:, perm], mask[:1], tol)
    torch.testing.assert_close(p["sigma"], ref["sigma"][:, perm], atol=tol, rtol=tol)
    torch.testing.assert_close(p["s"], ref["s"][:, perm], atol=tol, rtol=tol)
    torch.testing.assert_close(p["y"], ref["y"], atol=tol, rtol=tol)
    torch.testing.assert_close(padded["mu"][:, :6], ref["mu"], atol=tol, rtol=tol)
    torch.testing.assert_close(padded["y"], ref["y"], atol=tol, rtol=tol)


def test_sigma_stays_symmetric_positive_definite():
    mu, sigma, s, lat, t, mask = _structure(torch.float64)
    net = _net(torch.float64)
    with torch.no_grad():
        for layer in net.layers:  # aggressive shrinking gates
            layer.sigma_scale.bias.fill_(-5.0)
        out = net(mu, sigma, s, lat, t, mask)
    sig = out["sigma"]
    torch.testing.assert_close(sig, sig.transpose(-1, -2), atol=1e-12, rtol=0)
    assert torch.linalg.eigvalsh(sig[mask]).min() > 0


def test_periodic_overlap_equals_brute_force_image_sum():
    dtype = torch.float64
    lat = lattice_from_params(torch.tensor([[7.0, 7.5, 8.0, 85.0, 95.0, 100.0]], dtype=dtype))
    g = torch.Generator().manual_seed(1)
    mu = torch.rand(1, 5, 3, generator=g, dtype=dtype)
    a = torch.randn(1, 5, 3, 3, generator=g, dtype=dtype)
    a = 0.3 * a
    sigma = a @ a.transpose(-1, -2) + 2.0 * torch.eye(3, dtype=dtype)  # comparable to the cell
    overlap, _, _ = periodic_overlap(mu, sigma, lat)
    brute = torch.zeros(5, 5, dtype=dtype)
    near = torch.zeros(5, 5, dtype=dtype)
    r = range(-3, 4)
    for i, j in itertools.product(range(5), range(5)):
        inv = torch.linalg.inv(sigma[0, i] + sigma[0, j])
        terms = []
        for n in itertools.product(r, r, r):
            d = (mu[0, j] - mu[0, i] + torch.tensor(n, dtype=dtype)) @ lat[0]
            terms.append(-0.5 * d @ inv @ d)
        terms = torch.stack(terms)
        brute[i, j] = torch.logsumexp(terms, 0)
        near[i, j] = terms.max()
    torch.testing.assert_close(overlap[0], brute, atol=1e-4, rtol=0)
    assert (brute - near).abs().max() > 0.05  # the images do matter here
