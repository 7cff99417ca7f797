"""Relax + validate baseline on real CoRE MOFs.

Takes --n random non-disordered CoRE MOF 2019-ASR structures (at most --max-atoms atoms; the
same selection as bench_validate.py for the same seed), relaxes them with the relax_uff code
(UFF4MOF with a UFF fallback, LAMMPS) and validates them before and after relaxation with the
validate_mofs code. Prints seconds per structure (median, p90) for relaxation and validation, the
fraction relaxed and why the rest failed, the energy and cell changes, how well the relaxation
converged (converged % of those LAMMPS finished, final max force and pressure), how many changed
their bond graph, and the fraction of these real MOFs judged valid before and after relaxation,
also on the same (relaxed) structures: the baseline every generated-structure number is read
against.

    .venv/bin/python benchmarks/bench_relax.py --n 50 --processes 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from mof.cli import _setting
from mof.dataset import DatasetConfig, crystal_from_row, select_dataset
from mof.io import write_cif
from mof.relax import RelaxParams, relax_cifs
from mof.tables import write_table
from mof.validate import RELAXED_OUTCOMES, ValidateParams, validate_cifs


def _secs(x) -> str:
    x = np.asarray(x, dtype=float)
    return f"{np.median(x):.1f} s median, p90 {np.percentile(x, 90):.1f} s, max {x.max():.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--max-atoms", type=int, default=300)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", type=str, default=None, help="write the per-structure tables here")
    ap.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a relax parameter (as in python -m mof.cli relax --set)",
    )
    args = ap.parse_args()
    params = RelaxParams(**dict(args.set))
    cfg = DatasetConfig(sample_size=args.n, seed=args.seed, max_atoms=args.max_atoms)
    structures, _ = select_dataset(cfg, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        items = []
        for _, row in structures.iterrows():
            path = tmp / "in" / f"{row['id']}.cif"
            write_cif(path, crystal_from_row(row))
            items.append((row["id"], path))
        t0 = time.perf_counter()
        relaxed = relax_cifs(items, tmp / "out", params, args.processes, progress=False)
        wall_relax = time.perf_counter() - t0
        ok = relaxed[relaxed["status"] == "relaxed"]
        ok_items = {r.sample_id for r in ok.itertuples()}
        # every structure relaxation wrote a CIF for (relaxed, not_converged, topology_changed)
        ran = relaxed[relaxed["status"].isin(RELAXED_OUTCOMES)]
        after_items = [(r.sample_id, tmp / "out" / r.cif) for r in ran.itertuples()]
        t0 = time.perf_counter()
        after = validate_cifs(after_items, ValidateParams(), args.processes, progress=False)
        wall_val = time.perf_counter() - t0
        before = validate_cifs(items, ValidateParams(), args.processes, progress=False)
    if args.save:
        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        write_table(relaxed, out / "relaxed.parquet")
        write_table(after, out / "validation_relaxed.parquet")
        write_table(before, out / "validation_unrelaxed.parquet")
    n = len(relaxed)
    print(
        f"{n} CoRE MOF 2019-ASR structures (non-disordered, <= {args.max_atoms} atoms, "
        f"seed {args.seed}), {args.processes} processes; relaxation {wall_relax:.0f} s, "
        f"validation {wall_val:.0f} s in all"
    )
    print(f"relaxation: {_secs(relaxed['seconds'])} per structure (one core each)")
    typing = relaxed["seconds_typing"].dropna().astype(float)
    what = "loading CHGNet" if params.engine == "chgnet" else "typing (lammps-interface)"
    if len(typing):
        print(
            f"  of which {what}: {_secs(typing)}; "
            f"{100 * typing.sum() / relaxed['seconds'].sum():.0f}% of all relaxation time"
        )
    print(f"validation: {_secs(after['seconds'])} per relaxed CIF")
    print(
        f"relaxation: {wall_relax / max(1, n):.1f} s per structure (wall, {args.processes} cores)"
    )
    print(f"relaxed: {len(ok)}/{n} = {100 * len(ok) / n:.0f}%")
    for k, v in Counter(r for r in relaxed["reason"] if r).most_common():
        print(f"  {'' if k in RELAXED_OUTCOMES else 'failed '}{k:20s} {v}")
    if len(ran):
        conv = int(ran["status"].isin(["relaxed", "topology_changed"]).sum())
        f, pr = ran["max_force"].astype(float), ran["pressure"].astype(float).abs()
        print(
            f"converged: {conv}/{len(ran)} = {100 * conv / len(ran):.0f}% "
            f"of those with a relaxed CIF (relaxed or topology_changed); final max force "
            f"median {f.median():.3f}, p90 {np.percentile(f, 90):.3f} kcal/mol/A; |pressure| "
            f"median {pr.median():.0f}, p90 {np.percentile(pr, 90):.0f} atm"
        )
        topo = int((ran["status"] == "topology_changed").sum())
        print(
            f"topology changed: {topo}/{len(ran)} (bonds changed, median of those "
            f"{ran.loc[ran['status'] == 'topology_changed', 'bonds_changed'].median()})"
        )
    fallback = int(relaxed["notes"].str.contains("typed with UFF").sum())
    dropped = int(relaxed["notes"].str.contains("dropped terms").sum())
    print(
        f"  typed with plain UFF (UFF4MOF lacked a parameter): {fallback}; "
        f"degenerate terms dropped: {dropped}"
    )
    if len(ok):
        drop = (ok["energy_initial"] - ok["energy_final"]).astype(float)
        vol = 100 * ok["volume_change"].astype(float)
        print(
            f"  energy drop {drop.median():.2f} kcal/mol/atom (median); volume change median "
            f"{vol.median():+.1f}%, |change| p90 {np.percentile(vol.abs(), 90):.1f}%; "
            f"rms displacement {ok['rms_displacement'].median():.2f} A (median)"
        )
    good = after[after["valid"].astype(bool)]
    v_after = int(good["sample_id"].isin(ok_items).sum())
    v_any = len(good)
    v_before = int(before["valid"].sum())
    print(
        f"valid after relaxation (relaxed, i.e. converged with the bond graph kept): "
        f"{v_after}/{n} = {100 * v_after / n:.0f}% of all "
        f"({100 * v_after / max(1, len(ok)):.0f}% of relaxed); "
        f"valid as in the database: {v_before}/{n} = {100 * v_before / n:.0f}%"
    )
    print(
        f"valid after relaxation by MOFDiff's definition (any relaxed CIF, {len(ran)}): "
        f"{v_any}/{n} = {100 * v_any / n:.0f}%"
    )
    same = before[before["sample_id"].isin(ok_items)]
    print(
        f"on the same {len(ok)} relaxed structures: valid before {int(same['valid'].sum())}, "
        f"after {v_after}"
    )
    for status in ("topology_changed", "not_converged"):
        ids = set(ran.loc[ran["status"] == status, "sample_id"])
        if ids:
            print(
                f"  {status} ({len(ids)}): valid before "
                f"{int(before.loc[before['sample_id'].isin(ids), 'valid'].sum())}, after "
                f"{int(good['sample_id'].isin(ids).sum())}"
            )
    fails = Counter(c for r in after["reason"] for c in r.split(";") if c)
    for k, v in fails.most_common():
        print(f"  after relaxation, failed {k:32s} {v}")


if __name__ == "__main__":
    main()
