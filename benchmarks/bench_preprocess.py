"""Benchmark of the preprocess stage on real CoRE MOF 2019-ASR structures.

Prints structures per second (parse + decomposition, over --processes), the fraction decomposed,
the reject reasons, the distribution of blocks per MOF and the number of distinct building blocks.

    .venv/bin/python benchmarks/bench_preprocess.py --n 1000 --processes 2
    .venv/bin/python benchmarks/bench_preprocess.py --n 1000 --include-disordered
    .venv/bin/python benchmarks/bench_preprocess.py --n 1000 --drop-isolated
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from mof.dataset import DatasetConfig, select_dataset
from mof.decompose import DecomposeParams
from mof.preprocess import decompose_all, tables


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="structures to sample (default 1000)")
    ap.add_argument("--max-atoms", type=int, default=500)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--include-disordered",
        action="store_true",
        help="also sample entries flagged DISORDER in the CoRE MOF CSV",
    )
    ap.add_argument(
        "--drop-isolated",
        action="store_true",
        help="remove isolated solvent/counter-ions instead of rejecting the MOF",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    cfg = DatasetConfig(
        max_atoms=args.max_atoms,
        sample_size=args.n,
        seed=args.seed,
        drop_disordered=not args.include_disordered,
    )
    structures, summary = select_dataset(cfg, progress=False)
    t_select = time.perf_counter() - t0
    print(summary)

    t0 = time.perf_counter()
    decs, rejects = decompose_all(
        structures,
        DecomposeParams(max_atoms=args.max_atoms, drop_isolated_molecules=args.drop_isolated),
        processes=args.processes,
        progress=False,
    )
    t_dec = time.perf_counter() - t0
    t0 = time.perf_counter()
    mofs, inst, bb = tables(decs, structures)
    t_tab = time.perf_counter() - t0

    n = len(structures)
    ks = np.array([len(d.blocks) for d in decs])
    print(
        f"\nstructures: {n} CoRE MOF 2019-ASR, <= {args.max_atoms} atoms, "
        f"{'including' if args.include_disordered else 'excluding'} DISORDER-flagged, "
        f"seed {args.seed}"
    )
    print(f"select_dataset (one pass over the archive, parse all 12,020 CIFs): {t_select:.1f} s")
    print(
        f"decomposition, {args.processes} processes: {t_dec:.1f} s -> "
        f"{n / t_dec:.1f} structures/s  (tables: {t_tab:.1f} s)"
    )
    print(f"decomposed: {len(decs)}/{n} = {100 * len(decs) / n:.1f}%")
    for reason, c in Counter(rejects["reason"]).most_common():
        print(f"  rejected {reason:20s} {c:5d}  ({100 * c / n:.1f}%)")
    if len(ks):
        q = np.percentile(ks, [10, 50, 90, 100])
        print(
            f"blocks per MOF (K): p10 {q[0]:.0f}, median {q[1]:.0f}, p90 {q[2]:.0f}, "
            f"max {q[3]:.0f}; K <= 20: {100 * np.mean(ks <= 20):.0f}%"
        )
        hist = np.histogram(ks, bins=[0, 5, 10, 20, 30, 40, 51])[0]
        print(
            "  K histogram [0,5) [5,10) [10,20) [20,30) [30,40) [40,50]:",
            " ".join(str(h) for h in hist),
        )
    kinds = Counter(bb["kind"])
    print(
        f"distinct building blocks: {len(bb)} ({kinds['node']} nodes, {kinds['linker']} linkers)"
        f"; singletons (one MOF): {int((bb['n_mofs'] == 1).sum())}"
    )
    print("most common linkers (MOFs containing them):")
    lk = bb[bb["kind"] == "linker"].sort_values("n_mofs", ascending=False).head(8)
    for _, r in lk.iterrows():
        print(f"  {r['n_mofs']:4d}  {r['formula']:14s} {r['smiles']}")


if __name__ == "__main__":
    main()
