"""How well the trained denoiser moves Gaussian centres back, by noise level.

Needs a trained model and the default run's tables (run the README's main command first). For
the validation MOFs and a few fixed times t, noises them with the model's forward process and
prints, per t: the centre noise scale sigma_mu (fractional), the centre loss of the model next to
that of the identity prediction (mu_0 = mu_t; what an untrained position update gives), the
cosine between the predicted and the true denoising step, the ratio of their lengths, and the
share of blocks whose predicted embedding decodes (nearest library block) to the true block. A
network that has learned positions has cosines near 1 at small noise and losses well below the
identity's; this is where assembly's "connections do not meet" comes from.

    .venv/bin/python benchmarks/bench_denoise.py [--model results/train/denoiser.pt]
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


if __name__ == "__main__":
    main()
