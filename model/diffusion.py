"""Model-agnostic diffusion over coarse MOFs: noise processes, the loss and the sampler.

The denoising network is injected (any module with the :class:`model.iga.IGADenoiser` call
signature that predicts the clean structure); nothing here knows how it works.

State of a coarse MOF with K blocks (padded to a batch, ``mask`` marks real blocks):

- ``mu`` (B, K, 3): centres, fractional. Forward process: wrapped Gaussian on the torus,
  ``mu_t = wrap(mu_0 + sigma_mu(t) eps)`` with a geometric schedule from ``mu_sigma_min`` to
  ``mu_sigma_max`` (fractional units; at 1.0 the wrapped normal is uniform to 1e-8);
- ``sigma`` (B, K, 3, 3): shapes, SPD. Forward process on the matrix logarithm (log scale):
  ``l_0 = (logm(Sigma_0) - m I) / s_l``, ``l_t = alpha_t l_0 + sigma_t E`` with E symmetric
  Gaussian noise whose law is rotation invariant (GOE), so ``Sigma_t = expm(s_l l_t + m I)`` is
  always SPD and the process commutes with rotations;
- ``s`` (B, K, d): building-block embeddings, standardised; variance preserving (cosine);
- ``y`` (B, 6): the lattice as standardised (log a, log b, log c, alpha, beta, gamma); variance
  preserving (cosine). The network sees the Cartesian lattice built from y.

Lattice and K: the lattice has its own diffusion (y above), denoised jointly with the blocks,
so the cell is generated consistently with its contents; K is drawn from the empirical
distribution of K in the training set (a categorical prior, stored with the model). We chose
this over MOFDiff's VAE latent because it keeps one generative mechanism for everything
continuous and needs no encoder at sampling time; property-guided generation can be added as
classifier-free guidance on the same network.

The network predicts the clean structure (x0-prediction; for the variance-preserving fields, with
``skip``, as ``alpha_t x_t + sigma_t F`` so that the noisy input passes through) with
self-conditioning: during training,
half of the steps first run the network without gradients and feed its prediction back as input;
the sampler feeds each step's prediction to the next. Losses: fractional minimum-image error of
mu weighted by 1 / (sigma_mu(t)^2 + 0.02^2); the squared Frobenius distance of the standardised
matrix logarithms (Sigma_hat vs Sigma_0, divided by 9) for the shapes; mean squared error for s
and y. Each structure's loss is the mean over its blocks,
and the batch loss the mean over structures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from model.geometry import (
    lattice_from_params,
    min_image_frac,
    random_symmetric,
    spd_exp,
    spd_log,
    wrap,
)


@dataclass
class CoarseBatch:
    """A padded batch of coarse MOFs in the model's (normalised) variables."""

    mu: torch.Tensor  # (B, K, 3) fractional in [0, 1)
    sigma: torch.Tensor  # (B, K, 3, 3) SPD, Cartesian (canonical cell orientation), A^2
    s: torch.Tensor  # (B, K, d) standardised embeddings
    y: torch.Tensor  # (B, 6) standardised lattice
    mask: torch.Tensor  # (B, K) bool

    def to(self, device) -> CoarseBatch:
        return CoarseBatch(
            *(getattr(self, f).to(device) for f in ("mu", "sigma", "s", "y", "mask"))
        )

    def __len__(self) -> int:
        return self.mu.shape[0]


@dataclass
class Stats:
    """Normalisation statistics and the prior of K, computed on the training set."""

    s_mean: list[float]
    s_std: list[float]
    y_mean: list[float]
    y_std: list[float]
    logsig_mean: float
    logsig_std: float
    k_values: list[int] = field(default_factory=list)
    k_probs: list[float] = field(default_factory=list)

    def tensors(self, device=None, dtype=torch.float32):
        t = lambda v: torch.as_tensor(v, dtype=dtype, device=device)  # noqa: E731
        return t(self.s_mean), t(self.s_std), t(self.y_mean), t(self.y_std)


def lattice_to_y_raw(params: np.ndarray) -> np.ndarray:
    """(..., 6) lengths/angles -> (..., 6) log lengths and angles (before standardisation)."""
    params = np.asarray(params, dtype=float)
    return np.concatenate([np.log(params[..., :3]), params[..., 3:]], axis=-1)


class CosineVP:
    """alpha_t = cos(pi t^p / 2), sigma_t = sin(pi t^p / 2), t in [0, 1].

    ``power`` p > 1 warps time so that these fields are cleaner than the centres at the same t
    (at t = 0.2 with p = 2 the noise scale is 0.063 instead of 0.31): the blocks' identities,
    shapes and the cell are settled before the centres are, and the centre denoiser works in a
    nearly clean metric.
    """

    def __init__(self, power: float = 1.0):
        self.power = power

    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tp = t**self.power
        return torch.cos(0.5 * math.pi * tp), torch.sin(0.5 * math.pi * tp)


class GeometricVE:
    """sigma_t = sigma_min^(1-t) sigma_max^t."""

    def __init__(self, sigma_min: float, sigma_max: float):
        self.lo, self.hi = math.log(sigma_min), math.log(sigma_max)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.lo + (self.hi - self.lo) * t)


def vp_posterior(x_t, x0, alpha_t, scale_t, alpha_prev, scale_prev, noise):
    """Sample q(x_prev | x_t, x0) for a VP process at an earlier time than t: ``alpha_*`` and
    ``scale_*`` are the signal and noise scales at the two times (broadcastable)."""
    alpha_step = alpha_t / alpha_prev
    var_step = scale_t**2 - alpha_step**2 * scale_prev**2
    mean = (alpha_step * scale_prev**2 / scale_t**2) * x_t + (
        alpha_prev * var_step / scale_t**2
    ) * x0
    std = torch.sqrt(torch.clamp(var_step * scale_prev**2 / scale_t**2, min=0.0))
    return mean + std * noise


class CoarseDiffusion(nn.Module):
    """Noise processes + loss around an injected denoising network."""

    def __init__(
        self,
        network: nn.Module,
        stats: Stats,
        mu_sigma_min: float = 0.01,
        mu_sigma_max: float = 1.0,
        loss_weights: dict | None = None,
        skip: bool = False,
        vp_time_power: float = 1.0,
    ):
        super().__init__()
        self.network = network
        self.skip = skip
        self.stats = stats
        self.vp = CosineVP(vp_time_power)
        self.ve = GeometricVE(mu_sigma_min, mu_sigma_max)
        self.w = {"mu": 1.0, "sigma": 1.0, "s": 1.0, "lattice": 1.0, **(loss_weights or {})}
        s_mean, s_std, y_mean, y_std = stats.tensors()
        self.register_buffer("s_mean", s_mean)
        self.register_buffer("s_std", s_std)
        self.register_buffer("y_mean", y_mean)
        self.register_buffer("y_std", y_std)

    # -- conversions ------------------------------------------------------------------------
    def lattice_params(self, y: torch.Tensor) -> torch.Tensor:
        """(B, 6) standardised lattice y -> (B, 6) a, b, c (A), alpha, beta, gamma (degrees,
        clamped to [30, 150])."""
        raw = y * self.y_std + self.y_mean
        return torch.cat([torch.exp(raw[:, :3]), torch.clamp(raw[:, 3:], 30.0, 150.0)], -1)

    def lattice_matrix(self, y: torch.Tensor) -> torch.Tensor:
        """(B, 6) standardised lattice y -> (B, 3, 3) Cartesian lattice (canonical orientation)."""
        return lattice_from_params(self.lattice_params(y))

    def sigma_to_l(self, sigma: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(3, dtype=sigma.dtype, device=sigma.device)
        return (spd_log(sigma) - self.stats.logsig_mean * eye) / self.stats.logsig_std

    def l_to_sigma(self, logs: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(3, dtype=logs.dtype, device=logs.device)
        return spd_exp(logs * self.stats.logsig_std + self.stats.logsig_mean * eye)

    # -- forward process ---------------------------------------------------------------------
    @staticmethod
    def draw(batch: CoarseBatch, seeds: list[int]) -> tuple[torch.Tensor, dict]:
        """Per-structure times and noise from per-structure seeds, drawn for the structure's own
        blocks only (so that neither the split of a batch over processes nor the padding of the
        batch changes the numbers)."""
        k, d = batch.s.shape[1], batch.s.shape[2]
        counts = batch.mask.sum(1).tolist()
        ts, noise = [], {"mu": [], "l": [], "s": [], "y": []}

        def pad(x: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(k, *x.shape[1:], dtype=x.dtype)
            out[: len(x)] = x
            return out

        for seed, n in zip(seeds, counts):
            g = torch.Generator().manual_seed(int(seed))
            ts.append(torch.rand((), generator=g) * (1 - 1e-3) + 1e-3)
            noise["y"].append(torch.randn(6, generator=g))
            noise["mu"].append(pad(torch.randn(n, 3, generator=g)))
            noise["l"].append(pad(random_symmetric((n,), generator=g) / math.sqrt(2.0)))
            noise["s"].append(pad(torch.randn(n, d, generator=g)))
        dev, dt = batch.mu.device, batch.mu.dtype
        noise_t = {k_: torch.stack(v).to(dev, dt) for k_, v in noise.items()}
        return torch.stack(ts).to(dev, dt), noise_t

    def q_sample(self, batch: CoarseBatch, t: torch.Tensor, noise: dict) -> CoarseBatch:
        """The noisy batch at times ``t`` (B,) with the given noise (from :meth:`draw`)."""
        alpha, scale = self.vp.alpha_sigma(t)  # VP signal and noise scales
        scale_mu = self.ve.sigma(t)
        mu_t = wrap(batch.mu + scale_mu[:, None, None] * noise["mu"])
        l_t = (
            alpha[:, None, None, None] * self.sigma_to_l(batch.sigma)
            + scale[:, None, None, None] * noise["l"]
        )
        s_t = alpha[:, None, None] * batch.s + scale[:, None, None] * noise["s"]
        y_t = alpha[:, None] * batch.y + scale[:, None] * noise["y"]
        m = batch.mask[..., None]
        return CoarseBatch(
            torch.where(m, mu_t, batch.mu),
            torch.where(m[..., None], self.l_to_sigma(l_t), batch.sigma),
            s_t * m,
            y_t,
            batch.mask,
        )

    def predict(self, noisy: CoarseBatch, t: torch.Tensor, sc: dict | None = None) -> dict:
        """The clean-structure prediction at times ``t`` (B,). With ``skip`` the network's ``s``
        and ``y`` outputs F are the corrections in ``x_0 = alpha_t x_t + sigma_t F`` (the
        variance-preserving skip of v-prediction, for unit-variance data): at small t the
        prediction is then the noisy input itself unless the network moves it, instead of
        whatever the network rebuilds from its features."""
        out = self.network(
            noisy.mu, noisy.sigma, noisy.s, self.lattice_matrix(noisy.y), t, noisy.mask, sc
        )
        if not self.skip:
            return out
        alpha, scale = self.vp.alpha_sigma(t)
        out = dict(out)
        out["s"] = alpha[:, None, None] * noisy.s + scale[:, None, None] * out["s"]
        out["y"] = alpha[:, None] * noisy.y + scale[:, None] * out["y"]
        return out

    # -- loss -------------------------------------------------------------------------------
    def forward(self, batch: CoarseBatch, t: torch.Tensor, noise: dict, self_cond: bool) -> dict:
        """Same as :meth:`loss` (so that DistributedDataParallel can wrap the module)."""
        return self.loss(batch, t, noise, self_cond)

    def loss(self, batch: CoarseBatch, t: torch.Tensor, noise: dict, self_cond: bool) -> dict:
        """Per-field losses (scalars, mean over structures) and their weighted ``total``."""
        noisy = self.q_sample(batch, t, noise)
        sc = None
        if self_cond:
            with torch.no_grad():
                first = self.predict(noisy, t)
            sc = {
                "s": first["s"].detach(),
                "y": first["y"].detach(),
                "mu": first["mu"].detach(),
            }
        pred = self.predict(noisy, t, sc)
        mask = batch.mask.to(batch.mu.dtype)
        n = mask.sum(1).clamp(min=1)

        def per_struct(x):  # (B, K) -> (B,)
            return (x * mask).sum(1) / n

        sig_mu = self.ve.sigma(t)
        dmu = min_image_frac(pred["mu"] - batch.mu)
        l_mu = per_struct((dmu**2).sum(-1)) / (sig_mu**2 + 0.02**2)
        dl = self.sigma_to_l(pred["sigma"]) - self.sigma_to_l(batch.sigma)
        l_sig = per_struct((dl**2).sum((-1, -2)) / 9.0)
        l_s = per_struct(((pred["s"] - batch.s) ** 2).mean(-1))
        l_lat = ((pred["y"] - batch.y) ** 2).mean(-1)
        out = {"mu": l_mu.mean(), "sigma": l_sig.mean(), "s": l_s.mean(), "lattice": l_lat.mean()}
        out["total"] = sum(self.w[k] * out[k] for k in ("mu", "sigma", "s", "lattice"))
        return out


class CoarseSampler:
    """Ancestral sampler (exact Gaussian posteriors given the predicted clean structure) with
    self-conditioning, for a trained :class:`CoarseDiffusion`.

    ``mu_noise_scale`` multiplies the noise of each reverse step of the centres (1: the exact
    posterior; below 1: a lower-temperature sampler that follows the predicted centres more
    closely, as protein-structure diffusion samplers do; 0: no noise after the initial draw);
    ``s_noise_scale`` does the same for the embeddings.
    """

    def __init__(
        self,
        diffusion: CoarseDiffusion,
        steps: int = 100,
        self_cond: bool = True,
        mu_noise_scale: float = 1.0,
        s_noise_scale: float = 1.0,
    ):
        self.diffusion = diffusion
        self.steps = steps
        self.self_cond = self_cond
        self.mu_noise_scale = mu_noise_scale
        self.s_noise_scale = s_noise_scale

    def sample_k(self, n: int, generator: torch.Generator) -> list[int]:
        """Draw n block counts from the training distribution of K."""
        st = self.diffusion.stats
        probs = torch.as_tensor(st.k_probs, dtype=torch.float64)
        idx = torch.multinomial(probs, n, replacement=True, generator=generator)
        return [int(st.k_values[i]) for i in idx]

    @torch.no_grad()
    def sample(self, n_blocks: list[int], generator: torch.Generator, device="cpu") -> dict:
        """Generate len(n_blocks) coarse MOFs.

        Returns a dict of CPU tensors in physical units: ``mu`` (B, K, 3) fractional,
        ``sigma`` (B, K, 3, 3), ``s`` (B, K, d) embeddings, ``lattice`` (B, 3, 3),
        ``params`` (B, 6), ``mask`` (B, K), and ``mu_init`` (B, K, 3): the uniform draw the
        centres started from (how far the network moved them is a measure of what it learned).
        """
        dif = self.diffusion
        b, k = len(n_blocks), max(n_blocks)
        d = dif.s_mean.shape[0]
        mask = torch.arange(k)[None, :] < torch.as_tensor(n_blocks)[:, None]
        mu = torch.rand(b, k, 3, generator=generator)
        mu_init = mu.clone()
        lg = random_symmetric((b, k), generator=generator) / math.sqrt(2.0)
        s = torch.randn(b, k, d, generator=generator)
        y = torch.randn(b, 6, generator=generator)
        ts = torch.linspace(1.0, 1e-3, self.steps + 1, device=device)
        out = self._reverse(mask, mu, lg, s, y, ts, generator, device)
        out["mu_init"] = mu_init
        return out

    def steps_from(self, t0: float) -> int:
        """Reverse steps :meth:`denoise` takes from ``t0``: the density of :meth:`sample`'s grid."""
        return max(1, round(self.steps * (t0 - 1e-3) / (1 - 1e-3)))

    @torch.no_grad()
    def denoise(
        self, noisy: CoarseBatch, t0: float, generator: torch.Generator, device="cpu"
    ) -> dict:
        """Run the reverse process from a noisy batch at time ``t0`` (from
        :meth:`CoarseDiffusion.q_sample`) down to the end, with the step density of
        :meth:`sample` (:meth:`steps_from`), which for a ``t0`` on the sampler's grid are its last
        steps. Returns what :meth:`sample` returns but ``mu_init``;
        ``mu_first`` is the network's first prediction of the centres (one step from ``t0``)."""
        dif = self.diffusion
        ts = torch.linspace(float(t0), 1e-3, self.steps_from(t0) + 1, device=device)
        lg = dif.sigma_to_l(noisy.sigma)
        return self._reverse(noisy.mask, noisy.mu, lg, noisy.s, noisy.y, ts, generator, device)

    def _reverse(self, mask, mu, lg, s, y, ts, generator, device) -> dict:
        """The reverse loop over the times ``ts`` (decreasing) from the state (mu, lg, s, y)."""
        dif = self.diffusion
        b, k, d = s.shape

        def rn(*shape):
            return torch.randn(*shape, generator=generator)

        mask, mu, lg, s, y = (x.to(device) for x in (mask, mu, lg, s, y))
        sc = None
        pred = None
        first = None
        steps = len(ts) - 1
        for i in range(steps):
            t, t_next = ts[i], ts[i + 1]
            tb = t.expand(b)
            noisy = CoarseBatch(mu, dif.l_to_sigma(lg), s * mask[..., None], y, mask)
            pred = dif.predict(noisy, tb, sc if self.self_cond else None)
            if first is None:
                first = pred["mu"]
            sc = {"s": pred["s"], "y": pred["y"], "mu": pred["mu"]}
            if i == steps - 1:
                break
            scales = (*dif.vp.alpha_sigma(t), *dif.vp.alpha_sigma(t_next))
            l0 = dif.sigma_to_l(pred["sigma"])
            lg = vp_posterior(
                lg,
                l0,
                *scales,
                (random_symmetric((b, k), generator=generator) / math.sqrt(2.0)).to(device),
            )
            s = vp_posterior(s, pred["s"], *scales, self.s_noise_scale * rn(b, k, d).to(device))
            y = vp_posterior(y, pred["y"], *scales, rn(b, 6).to(device))
            vt, vs = dif.ve.sigma(t) ** 2, dif.ve.sigma(t_next) ** 2
            ratio = vs / vt
            mean = pred["mu"] + ratio * min_image_frac(mu - pred["mu"])
            std = torch.sqrt((vt - vs) * ratio)
            mu = wrap(mean + self.mu_noise_scale * std * rn(b, k, 3).to(device))
        params = dif.lattice_params(pred["y"])
        return {
            "mu": wrap(pred["mu"]).cpu(),
            "mu_first": wrap(first).cpu(),
            "sigma": pred["sigma"].cpu(),
            "s": (pred["s"] * dif.s_std + dif.s_mean).cpu(),
            "lattice": lattice_from_params(params).cpu(),
            "params": params.cpu(),
            "mask": mask.cpu(),
        }
