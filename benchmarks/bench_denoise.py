"""How well the trained denoiser moves Gaussian centres back, by noise level.

Needs a trained model and the default run's tables (run the README's main command first). For
the validation MOFs and a few fixed times t, noises them with the model's forward process and
prints, per t: the centre noise scale sigma_mu (fractional), the centre loss of the model next to
that of the identity prediction (mu_0 = mu_t; what an untrained position update gives), the
cosine between the predicted and the true denoising step, the ratio of their lengths, and the
share of blocks whose predicted embedding decodes (nearest library block) to the true block. A
network that has learned positions has cosines near 1 at small noise and losses well below the
identity's; this is where assembly's "connections do not meet" comes from.

With ``--sampler-from T0,...`` it also runs the sampler's reverse process from validation MOFs
noised to each T0 (``CoarseSampler.denoise``: the sampler's last steps, with ``sample.steps`` and
``sample.mu_noise_scale`` of ``config.yaml``) and prints the centres' RMS distance to the truth
(A, minimum image in the true cell) for the noisy input, the network's first prediction and the
sampler's result: a sampler that places blocks ends closer than it started.

    .venv/bin/python benchmarks/bench_denoise.py [--model results/train/denoiser.pt]
    .venv/bin/python benchmarks/bench_denoise.py --times 0.02 --sampler-from 0.1,0.3,0.5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from model.checkpoint import load_model
from model.data import load_coarse_mofs, make_batch
from model.geometry import min_image_frac
from model.index import NearestBlockIndex
from mof.tables import read_table

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--results", default=str(REPO / "results"))
    ap.add_argument("--model", default=None, help="default: <results>/train/denoiser.pt")
    ap.add_argument("--split", default="val")
    ap.add_argument("--times", default="0.02,0.1,0.2,0.3,0.5,0.7,0.9")
    ap.add_argument("--sampler-from", default="", help="times t0 to run the sampler from")
    ap.add_argument(
        "--sampler-n", type=int, default=200, help="validation MOFs (K <= 30) for --sampler-from"
    )
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    args = ap.parse_args()
    res = Path(args.results)
    model, _, _ = load_model(args.model or res / "train" / "denoiser.pt")
    model.eval()
    embeddings = read_table(res / "embed" / "embeddings.parquet")
    mofs = load_coarse_mofs(read_table(res / "preprocess" / "mofs.parquet"), embeddings)
    index = NearestBlockIndex.from_table(embeddings)
    library = set(index.ids)
    mofs = [m for m in mofs if m.split == args.split]
    batch = make_batch(mofs, model.stats)
    true_ids = [b for m in mofs for b in m.block_ids]  # in the order of batch.s[batch.mask]
    mask = batch.mask.to(batch.mu.dtype)
    n = mask.sum(1).clamp(min=1)

    def loss(pred_mu: torch.Tensor, sig: torch.Tensor) -> float:
        d = min_image_frac(pred_mu - batch.mu)
        per = ((d**2).sum(-1) * mask).sum(1) / n / (sig**2 + 0.02**2)
        return float(per.mean())

    print(f"{len(mofs)} {args.split} MOFs, model {args.model or res / 'train' / 'denoiser.pt'}")

    def recovered(pred_s: torch.Tensor) -> float:
        """Share of the library blocks among ``mofs`` whose predicted embedding decodes to them."""
        ids, _ = index.query((pred_s * model.s_std + model.s_mean)[batch.mask].numpy())
        hits = [b == p for b, p in zip(true_ids, ids[:, 0]) if b in library]
        return float(sum(hits) / max(1, len(hits)))

    print("     t  sigma_mu  loss(model)  loss(identity)  cos(step, true)  |step|/|true|  blocks")
    for tv in (float(x) for x in args.times.split(",")):
        t = torch.full((len(mofs),), tv)
        _, noise = model.draw(batch, list(range(len(mofs))))
        noisy = model.q_sample(batch, t, noise)
        with torch.no_grad():
            pred = model.predict(noisy, t)
        sig = model.ve.sigma(t)
        step = min_image_frac(pred["mu"] - noisy.mu) * mask[..., None]
        true = min_image_frac(batch.mu - noisy.mu) * mask[..., None]
        cos = float((step * true).sum() / torch.sqrt((step**2).sum() * (true**2).sum()))
        ratio = float(torch.sqrt((step**2).sum() / (true**2).sum()))
        print(
            f"{tv:6.2f}  {float(sig[0]):8.3f}  {loss(pred['mu'], sig):11.3f}  "
            f"{loss(noisy.mu, sig):14.3f}  {cos:15.3f}  {ratio:13.3f}  {recovered(pred['s']):6.3f}"
        )

    if args.sampler_from:
        sampler_from(model, mofs, args)


def centre_error(mu: torch.Tensor, mofs: list, batch) -> float:
    """RMS distance (A) of the centres ``mu`` (B, K, 3) fractional from the true ones over all
    blocks, minimum image in each MOF's own cell."""
    from mof.periodic import lattice_from_parameters, minimum_image

    sq, count = 0.0, 0
    for i, m in enumerate(mofs):
        d = (mu[i, : m.k] - batch.mu[i, : m.k]).double().numpy()
        _, cart = minimum_image(d, lattice_from_parameters(*m.params))
        sq += float((cart**2).sum())
        count += m.k
    return (sq / max(1, count)) ** 0.5


def sampler_from(model, mofs: list, args) -> None:
    """The sampler's reverse process from validation MOFs noised to each ``--sampler-from``."""
    import yaml

    from model.config import SampleConfig
    from model.diffusion import CoarseSampler

    cfg = SampleConfig.from_dict(
        (yaml.safe_load(Path(args.config).read_text()) or {}).get("sample") or {}
    )
    chosen = [m for m in mofs if m.k <= 30][: args.sampler_n]
    batch = make_batch(chosen, model.stats)
    sampler = CoarseSampler(model, steps=cfg.steps, mu_noise_scale=cfg.mu_noise_scale)
    print(
        f"\nsampler from t0 ({len(chosen)} {args.split} MOFs with K <= 30; {cfg.steps} steps over "
        f"[0, 1], mu_noise_scale {cfg.mu_noise_scale:g}): centres' RMS distance to the truth, A"
    )
    print("    t0  steps   noisy   first prediction   sampler")
    for t0 in (float(x) for x in args.sampler_from.split(",")):
        _, noise = model.draw(batch, list(range(len(chosen))))
        noisy = model.q_sample(batch, torch.full((len(chosen),), t0), noise)
        out = sampler.denoise(noisy, t0, torch.Generator().manual_seed(0))
        steps = sampler.steps_from(t0)
        print(
            f"{t0:6.2f}  {steps:5d}  {centre_error(noisy.mu, chosen, batch):6.3f}  "
            f"{centre_error(out['mu_first'], chosen, batch):17.3f}  "
            f"{centre_error(out['mu'], chosen, batch):8.3f}"
        )


if __name__ == "__main__":
    main()
