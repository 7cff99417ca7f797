"""Forward processes, loss and sampler of the coarse diffusion (network injected)."""

import numpy as np
import pytest
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


@pytest.mark.parametrize("skip", [True, False])
def test_skip_passes_the_noisy_embeddings_and_lattice_through_at_small_t(coarse_mofs, skip):
    """With the skip an untrained network's prediction at small t is the noisy input; without
    it, the network rebuilds embeddings and lattice from its features, far from the input."""
    dif, stats = _diffusion(coarse_mofs)
    dif.skip = skip
    batch = make_batch(coarse_mofs, stats)
    t, noise = CoarseDiffusion.draw(batch, list(range(len(coarse_mofs))))
    t = torch.full_like(t, 1e-3)
    noisy = dif.q_sample(batch, t, noise)
    with torch.no_grad():
        pred = dif.predict(noisy, t)
    m = batch.mask
    rel_s = (pred["s"] - noisy.s)[m].norm() / noisy.s[m].norm()
    rel_y = (pred["y"] - noisy.y).norm() / noisy.y.norm()
    if skip:
        assert rel_s < 0.01 and rel_y < 0.01
    else:
        assert rel_s > 0.5 and rel_y > 0.5


def test_time_warp_settles_shapes_embeddings_and_lattice_before_the_centres(coarse_mofs):
    """With vp_time_power p, the variance-preserving fields at time t are those of the unwarped
    process at t^p (less noisy), and the centres are those of t, unchanged."""
    dif, stats = _diffusion(coarse_mofs)
    warped = CoarseDiffusion(dif.network, stats, vp_time_power=2.0)
    batch = make_batch(coarse_mofs, stats)
    t, noise = CoarseDiffusion.draw(batch, list(range(len(coarse_mofs))))
    t = torch.full_like(t, 0.3)
    w = warped.q_sample(batch, t, noise)
    same_t = dif.q_sample(batch, t, noise)
    at_t2 = dif.q_sample(batch, t**2, noise)
    torch.testing.assert_close(w.mu, same_t.mu)
    for f in ("sigma", "s", "y"):
        torch.testing.assert_close(getattr(w, f), getattr(at_t2, f))
    assert (w.y - batch.y).norm() < 0.5 * (same_t.y - batch.y).norm()


def test_vp_posterior_matches_bayes_rule_on_a_grid():
    """q(x_s | x_t, x0) for alpha_s = 0.9, alpha_t = 0.6 (variance preserving), computed without
    the implementation's formula: the density p(x_s | x0) p(x_t | x_s) on a fine grid of x_s,
    normalised numerically, gives the posterior mean and standard deviation."""
    a_t, a_s = 0.6, 0.9
    s_t, s_s = np.sqrt(1 - a_t**2), np.sqrt(1 - a_s**2)
    x_t, x0 = 1.3, -0.4
    grid = np.linspace(-6.0, 6.0, 200_001)
    # forward process: x_s = a_s x0 + s_s e1, then x_t = (a_t / a_s) x_s + sqrt(step_var) e2
    step_var = s_t**2 - (a_t / a_s) ** 2 * s_s**2
    log_p = -0.5 * (grid - a_s * x0) ** 2 / s_s**2 - 0.5 * (x_t - a_t / a_s * grid) ** 2 / step_var
    w = np.exp(log_p - log_p.max())
    w /= w.sum()
    mean_grid = float((w * grid).sum())
    std_grid = float(np.sqrt((w * (grid - mean_grid) ** 2).sum()))

    args = [torch.tensor(v, dtype=torch.float64) for v in (x_t, x0, a_t, s_t, a_s, s_s)]
    mean = float(vp_posterior(*args, torch.tensor(0.0, dtype=torch.float64)))
    one_sd = float(vp_posterior(*args, torch.tensor(1.0, dtype=torch.float64)))
    assert mean == pytest.approx(mean_grid, abs=1e-6)
    assert one_sd - mean == pytest.approx(std_grid, abs=1e-6)


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


class _EchoNetwork(torch.nn.Module):
    """Predicts the noisy input as the clean structure (the lattice zero)."""

    def forward(self, mu, sigma, s, lattice, t, mask, sc=None):
        return {"mu": mu, "sigma": sigma, "s": s.clone(), "y": s.new_zeros(len(s), 6)}


@pytest.mark.parametrize("scale", [0.0, 1.0])
def test_centre_noise_scale_of_the_sampler(coarse_mofs, scale):
    """With a network that predicts the centres where they are, only the reverse steps' noise
    moves them: none at scale 0 (the centres stay at their initial draw), some at scale 1."""
    stats = compute_stats(coarse_mofs)
    dif = CoarseDiffusion(_EchoNetwork(), stats)
    sampler = CoarseSampler(dif, steps=10, mu_noise_scale=scale)
    ks = [4, 3]
    out = sampler.sample(ks, torch.Generator().manual_seed(7))
    start = torch.rand(2, 4, 3, generator=torch.Generator().manual_seed(7))
    moved = (out["mu"] - start)[out["mask"]]
    moved = (moved - torch.round(moved)).abs().max()
    if scale == 0.0:
        assert moved < 1e-6
    else:
        assert moved > 0.01


@pytest.mark.parametrize("scale", [0.0, 1.0])
def test_embedding_noise_scale_of_the_sampler(coarse_mofs, scale):
    """With a network that predicts the embeddings as they are, every noiseless reverse step
    multiplies them by one common factor: at scale 0 the final embeddings are the initial draw
    times one number; at scale 1 the steps' noise makes the ratios differ."""
    from model.geometry import random_symmetric

    stats = compute_stats(coarse_mofs)
    dif = CoarseDiffusion(_EchoNetwork(), stats)
    sampler = CoarseSampler(dif, steps=10, s_noise_scale=scale)
    ks = [4, 4]
    out = sampler.sample(ks, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    torch.rand(2, 4, 3, generator=g)
    random_symmetric((2, 4), generator=g)
    start = torch.randn(2, 4, len(stats.s_mean), generator=g)
    ratio = (out["s"] - dif.s_mean) / dif.s_std / start
    spread = float(ratio.max() - ratio.min())
    if scale == 0.0:
        assert spread < 1e-4 * float(ratio.abs().max())
    else:
        assert spread > 0.1 * float(ratio.abs().max())


class _RecordingEcho(_EchoNetwork):
    """The echo network, recording the time of every call."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def forward(self, mu, sigma, s, lattice, t, mask, sc=None):
        self.times.append(float(t[0]))
        return super().forward(mu, sigma, s, lattice, t, mask, sc)


def test_sample_returns_its_initial_draw(coarse_mofs):
    stats = compute_stats(coarse_mofs)
    sampler = CoarseSampler(CoarseDiffusion(_EchoNetwork(), stats), steps=4, mu_noise_scale=1.0)
    out = sampler.sample([4, 2], torch.Generator().manual_seed(11))
    start = torch.rand(2, 4, 3, generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(out["mu_init"], start, rtol=0, atol=0)
    assert not torch.allclose(out["mu"], start)  # the steps' noise moved them (scale 1)


def test_denoise_runs_the_sampler_s_last_steps_from_a_noisy_structure(coarse_mofs):
    """From t0 on the sampler's grid, denoise calls the network at the grid's remaining times;
    with a network that predicts the centres where they are and no step noise, the centres end
    where the noisy structure had them."""
    stats = compute_stats(coarse_mofs)
    full = _RecordingEcho()
    sampler = CoarseSampler(CoarseDiffusion(full, stats), steps=10, mu_noise_scale=0.0)
    sampler.sample([3], torch.Generator().manual_seed(0))
    net = _RecordingEcho()
    dif = CoarseDiffusion(net, stats)
    batch = make_batch(coarse_mofs, stats)
    t, noise = CoarseDiffusion.draw(batch, list(range(len(coarse_mofs))))
    t0 = full.times[6]
    noisy = dif.q_sample(batch, torch.full_like(t, t0), noise)
    out = CoarseSampler(dif, steps=10, mu_noise_scale=0.0).denoise(
        noisy, t0, torch.Generator().manual_seed(1)
    )
    assert net.times == pytest.approx(full.times[6:], abs=1e-6)
    m = batch.mask
    torch.testing.assert_close(out["mu"][m], noisy.mu[m], rtol=0, atol=1e-6)
    torch.testing.assert_close(out["mu_first"][m], noisy.mu[m], rtol=0, atol=1e-6)
