"""Forward processes, loss and sampler of the coarse diffusion (network injected)."""

import numpy as np
import torch

from model.data import compute_stats, make_batch
from model.diffusion import CoarseDiffusion, CoarseSampler, vp_posterior
from model.iga import IGADenoiser


def _diffusion(coarse_mofs):
    stats = compute_stats(coarse_mofs)
    torch.manual_seed(0)
    net = IGADenoiser(
        emb_dim=8, dim=32, layers=2, heads=4, lattice_mean=stats.y_mean, lattice_std=stats.y_std
    )
    return CoarseDiffusion(net, stats), stats


def test_forward_noise_stays_on_the_torus_and_spd(coarse_mofs):
    dif, stats = _diffusion(coarse_mofs)
    batch = make_batch(coarse_mofs, stats)
    t, noise = CoarseDiffusion.draw(batch, list(range(len(coarse_mofs))))
    for tv in (0.05, 0.5, 1.0):
        noisy = dif.q_sample(batch, torch.full_like(t, tv), noise)
        assert torch.all((noisy.mu >= 0) & (noisy.mu < 1))
        assert torch.linalg.eigvalsh(noisy.sigma[batch.mask]).min() > 0
    # small t: close to the data (modulo the torus); the shapes too
    noisy = dif.q_sample(batch, torch.full_like(t, 1e-3), noise)
    d = (noisy.mu - batch.mu)[batch.mask]
    assert (d - torch.round(d)).abs().max() < 0.05
    rel = torch.linalg.matrix_norm(noisy.sigma - batch.sigma) / torch.linalg.matrix_norm(
        batch.sigma
    )
    assert rel[batch.mask].max() < 0.02


def test_draw_is_per_structure():
    from model.diffusion import CoarseBatch

    b = CoarseBatch(
        torch.zeros(3, 4, 3),
        torch.eye(3).expand(3, 4, 3, 3).clone(),
        torch.zeros(3, 4, 8),
        torch.zeros(3, 6),
        torch.ones(3, 4, dtype=torch.bool),
    )
    t_all, n_all = CoarseDiffusion.draw(b, [5, 6, 7])
    t_one, n_one = CoarseDiffusion.draw(
        CoarseBatch(*(x[1:2] for x in (b.mu, b.sigma, b.s, b.y, b.mask))), [6]
    )
    torch.testing.assert_close(t_all[1:2], t_one)
    torch.testing.assert_close(n_all["mu"][1:2], n_one["mu"])


def test_loss_is_finite_and_differentiable(coarse_mofs):
    dif, stats = _diffusion(coarse_mofs)
    batch = make_batch(coarse_mofs, stats)
    t, noise = CoarseDiffusion.draw(batch, list(range(len(coarse_mofs))))
    for sc in (False, True):
        out = dif.loss(batch, t, noise, self_cond=sc)
        assert all(torch.isfinite(v) for v in out.values())
        dif.zero_grad()
        out["total"].backward()
        grads = [p.grad for p in dif.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)


def test_vp_posterior_matches_closed_form():
    # scalar check against the textbook DDPM posterior for alpha_s = 1 (s = 0 limit excluded)
    a_t, s_t, a_s, s_s = (torch.tensor(v) for v in (0.6, 0.8, 0.9, np.sqrt(1 - 0.81)))
    x_t, x0 = torch.tensor(1.3), torch.tensor(-0.4)
    mean = vp_posterior(x_t, x0, a_t, s_t, a_s, s_s, torch.tensor(0.0))
    a_ts = a_t / a_s
    var_ts = s_t**2 - a_ts**2 * s_s**2
    expect = (a_ts * s_s**2 * x_t + a_s * var_ts * x0) / s_t**2
    torch.testing.assert_close(mean, expect)


def test_sampler_same_seed_same_samples(coarse_mofs):
    dif, _ = _diffusion(coarse_mofs)
    sampler = CoarseSampler(dif, steps=5)
    ks = sampler.sample_k(3, torch.Generator().manual_seed(0))
    assert all(k in dif.stats.k_values for k in ks)
    a = sampler.sample(ks, torch.Generator().manual_seed(42))
    b = sampler.sample(ks, torch.Generator().manual_seed(42))
    c = sampler.sample(ks, torch.Generator().manual_seed(43))
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert not torch.allclose(a["mu"], c["mu"])
    assert a["mu"].shape == (3, max(ks), 3) and a["s"].shape[-1] == 8
    assert torch.all((a["mu"] >= 0) & (a["mu"] < 1))
    assert torch.linalg.eigvalsh(a["sigma"][a["mask"]]).min() > 0
    assert torch.all(a["params"][:, :3] > 0)
