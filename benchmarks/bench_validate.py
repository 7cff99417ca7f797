"""Validation baseline on real CoRE MOFs.

Validates --n random non-disordered CoRE MOF 2019-ASR structures (at most --max-atoms atoms) as
they are in the database (no relaxation: the relax stage is not built yet) with the
validate_mofs code, and prints seconds per structure (median, p90), the fraction judged valid
(the baseline every generated-structure number is read against) and the failures per check.

    .venv/bin/python benchmarks/bench_validate.py --n 50 --processes 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from mof.dataset import DatasetConfig, crystal_from_row, select_dataset
from mof.io import write_cif
from mof.validate import ValidateParams, validate_cifs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--max-atoms", type=int, default=300)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = DatasetConfig(sample_size=args.n, seed=args.seed, max_atoms=args.max_atoms)
    structures, _ = select_dataset(cfg, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        items = []
        for _, row in structures.iterrows():
            path = Path(tmp) / f"{row['id']}.cif"
            write_cif(path, crystal_from_row(row))
            items.append((row["id"], path))
        t0 = time.perf_counter()
        df = validate_cifs(items, ValidateParams(), processes=args.processes, progress=False)
        wall = time.perf_counter() - t0
    secs = df["seconds"].to_numpy()
    print(
        f"{len(df)} CoRE MOF 2019-ASR structures (non-disordered, <= {args.max_atoms} atoms, "
        f"seed {args.seed}), unrelaxed, {args.processes} processes, {wall:.0f} s in all"
    )
    print(
        f"validation: {np.median(secs):.1f} s per structure (median), p90 "
        f"{np.percentile(secs, 90):.1f} s (MOFChecker + zeo++, one core each)"
    )
    print(
        f"valid (all MOFDiff checks + PLD >= 2.4 A): {int(df['valid'].sum())}/{len(df)} = "
        f"{100 * df['valid'].mean():.0f}%"
    )
    fails = Counter(c for r in df["reason"] for c in r.split(";") if c)
    for k, v in fails.most_common():
        print(f"  failed {k:32s} {v}")


if __name__ == "__main__":
    main()
