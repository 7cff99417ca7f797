"""Validation baseline on real CoRE MOFs.

Validates --n random non-disordered CoRE MOF 2019-ASR structures (at most --max-atoms atoms) as
they are in the database (no relaxation: the relax stage is not built yet) with the
validate_mofs code, and prints seconds per structure (median, p90), the fraction judged valid
(the baseline every generated-structure number is read against), the failures per check and
how many pass the contact check recorded beside ``valid`` (``validate.min_contact_ratio``).
``--contacts-only`` measures only the closest contact relative to covalent radii (no MOFChecker,
no zeo++; seconds for hundreds of structures) and lists the structures below the bound.

    .venv/bin/python benchmarks/bench_validate.py --n 50 --processes 2
    .venv/bin/python benchmarks/bench_validate.py --n 400 --contacts-only
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
    ap.add_argument("--contacts-only", action="store_true", help="only the contact check")
    args = ap.parse_args()
    cfg = DatasetConfig(sample_size=args.n, seed=args.seed, max_atoms=args.max_atoms)
    structures, _ = select_dataset(cfg, progress=False)
    if args.contacts_only:
        contacts(structures, ValidateParams().min_contact_ratio)
        return
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
    ok = df["ok_contacts"].astype(bool)
    print(
        f"no close contacts (not part of valid): {int(ok.sum())}/{len(df)}; below the bound: "
        + (
            ", ".join(f"{s} ({p})" for s, p in zip(df["sample_id"][~ok], df["contact_pair"][~ok]))
            or "none"
        )
    )


def contacts(structures, bound: float) -> None:
    """Print the closest contact relative to covalent radii over ``structures`` (a dataset
    table): the share at least ``bound``, quantiles, and the structures below it."""
    from mof.screen import closest_contact_ratio

    rows = []
    for _, row in structures.iterrows():
        cr = crystal_from_row(row)
        ratio, i, j, d = closest_contact_ratio(cr.frac, cr.lattice, cr.species)
        pair = f"{cr.species[i]}-{cr.species[j]} {d:.2f} A" if i >= 0 else ""
        rows.append((row["id"], ratio, pair))
    q = np.array([r[1] for r in rows])
    print(
        f"{len(q)} CoRE MOF 2019-ASR structures (non-disordered, as in the database): closest "
        f"contact / sum of covalent radii >= {bound}: {int((q >= bound).sum())} "
        f"({100 * (q >= bound).mean():.1f}%); quantiles 1/5/10/50%: "
        + " / ".join(f"{x:.3f}" for x in np.percentile(q, [1, 5, 10, 50]))
    )
    for sid, ratio, pair in sorted(rows, key=lambda r: r[1]):
        if ratio < bound:
            print(f"  {sid:28s} {ratio:.3f}  {pair}")


if __name__ == "__main__":
    main()
