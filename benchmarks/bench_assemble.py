"""Assembly benchmark on held-out CoRE MOFs, with noisy coarse input.

Decomposes a seeded sample of CoRE MOF 2019-ASR structures. The library is built from the
training split only: one representative conformation per building block plus up to
--conformers other training conformations (or, with --own-blocks, each MOF's own blocks in their
own conformation: an upper bound that isolates the search from the library). Held-out MOFs
(val + test) whose building blocks all occur in the library keep only their coarse description
(lattice, Gaussian centres and Sigmas, block identities); orientations are thrown away. Then,
per noise level, every block centre is moved by Gaussian noise of --centre-noise A on each
Cartesian component (an RMS displacement of sqrt(3) times that) and the cell by a
random symmetric strain with entries uniform in +-(--cell-noise), and the structure is assembled
with the assemble_mofs code. Printed per level: assembled (strict) %, bonded % (handed to
relaxation with gaps), recovered % (pymatgen StructureMatcher against the original, default
tolerances), median and p90 repair displacement (RMS block displacement by the fit, A), seconds
per structure. With --relax N the first N structures of each level that got atoms are relaxed
(relax_uff code) and validated (validate_mofs code); relaxed % and valid % are over those N
samples, whatever their assembly status (a failed assembly counts as not valid): strict
(converged, bond graph kept) and by MOFDiff's definition (every CIF the relaxation returns),
with the failed validation checks. --reference also relaxes and validates the same N MOFs as
they are in CoRE MOF: the figure the assemblies can reach with this relax + validate code.

    .venv/bin/python benchmarks/bench_assemble.py --n 100 --centre-noise 0 1 2 --cell-noise 0 0.03 0
    .venv/bin/python benchmarks/bench_assemble.py --n 100 --own-blocks --centre-noise 0
    .venv/bin/python benchmarks/bench_assemble.py --n 100 --centre-noise 1 --cell-noise 0.03 \
        --relax 100 --reference
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mof.assemble import AssemblyParams, assemble
from mof.cli import _setting
from mof.dataset import DatasetConfig, crystal_from_row, select_dataset
from mof.decompose import DecomposeParams
from mof.library import load_library
from mof.parallel import progress_map
from mof.preprocess import decompose_all, tables
from mof.tables import column_array

_STATE: dict = {}


def _perturb(row: dict, centre_noise: float, cell_noise: float, seed: int):
    rng = np.random.default_rng(seed)
    lat = column_array(row, "lattice")
    frac = column_array(row, "centres_frac")
    e = rng.uniform(-cell_noise, cell_noise, (3, 3)) if cell_noise > 0 else np.zeros((3, 3))
    e = 0.5 * (e + e.T)
    lat_n = lat @ (np.eye(3) + e)
    cart = frac @ lat_n + rng.normal(scale=centre_noise, size=frac.shape)
    return lat_n, cart @ np.linalg.inv(lat_n)


def _one(args):
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    row, orig, centre_noise, cell_noise, seed, params = args
    lat_n, frac_n = _perturb(row, centre_noise, cell_noise, seed)
    lib = (
        _STATE["own"][row["id"]] if _STATE["own"] else [_STATE["lib"][b] for b in row["block_ids"]]
    )
    t0 = time.perf_counter()
    res = assemble(
        lat_n,
        frac_n,
        column_array(row, "sigmas"),
        lib,
        params,
        structure_id=row["id"],
    )
    dt = time.perf_counter() - t0
    ok = False
    if res.crystal is not None:
        a = Structure(
            column_array(row, "lattice"),
            orig["species"],
            column_array(orig, "frac_coords"),
        )
        b = Structure(res.crystal.lattice, res.crystal.species, res.crystal.frac)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ok = bool(StructureMatcher().fit(a, b))
    return ok, res, dt


def _own_library(inst) -> dict:
    """Per MOF, its own blocks in their own conformations (in block_index order)."""
    from mof.library import block_from_row

    out = {}
    for mof_id, g in inst.groupby("mof_id", sort=False):
        out[mof_id] = [block_from_row(r) for r in g.sort_values("block_index").itertuples()]
    return out


def _relax_and_validate(
    structures: list, processes: int, relax_over: dict, keep: Path | None = None
) -> dict:
    """Relax and validate ``structures`` (``(Crystal or None, bonds or None)``; no crystal:
    nothing was built, a failure): counts of ``relaxed`` (strict), ``finished`` (a relaxed
    CIF: relaxed, not_converged, topology_changed or symmetry_broken),
    ``valid`` (strict: valid among the relaxed) and ``valid_any`` (MOFDiff's definition: valid
    among every relaxed CIF), the relaxation failures by reason and the failed validation checks
    (each check once per structure that fails it). ``keep``: a folder that receives the input
    and relaxed CIFs and the relax and validate tables, for a closer look."""
    from mof.io import write_cif
    from mof.relax import RelaxParams, relax_cifs
    from mof.validate import RELAXED_OUTCOMES, ValidateParams, validate_cifs

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        items = []
        for crystal, bonds in structures:
            if crystal is not None:
                path = tmp / "in" / f"{crystal.id}.cif"
                write_cif(path, crystal, bonds)
                items.append((crystal.id, path))
        relaxed = relax_cifs(
            items, tmp / "out", RelaxParams(**relax_over), processes, progress=False
        )
        ran = relaxed[relaxed["status"].isin(RELAXED_OUTCOMES)]
        val = validate_cifs(
            [(r.sample_id, tmp / "out" / r.cif) for r in ran.itertuples()],
            ValidateParams(),
            processes,
            progress=False,
        )
        reasons = relaxed.loc[relaxed["status"] != "relaxed", "reason"].value_counts().to_dict()
        if keep is not None:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
            relaxed.to_csv(keep / "relax.csv", index=False)
            val.to_csv(keep / "validate.csv", index=False)
    failed_checks = (
        val.loc[~val["valid"].astype(bool), "reason"].str.split(";").explode().value_counts()
        if len(val)
        else pd.Series(dtype=int)
    )
    strict = set(relaxed.loc[relaxed["status"] == "relaxed", "sample_id"])
    valid = set(val.loc[val["valid"].astype(bool), "sample_id"]) if len(val) else set()
    return {
        "n": len(structures),
        "relaxed": len(strict),
        "finished": len(ran),
        "valid": len(valid & strict),
        "valid_any": len(valid),
        "reasons": reasons,
        "invalid": failed_checks.to_dict(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="held-out MOFs to assemble")
    ap.add_argument("--sample", type=int, default=3000, help="structures sampled from CoRE")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--conformers", type=int, default=8, help="other training conformations")
    ap.add_argument("--own-blocks", action="store_true", help="each MOF's own block geometries")
    ap.add_argument("--centre-noise", type=float, nargs="+", default=[0.0], help="A, per component")
    ap.add_argument(
        "--cell-noise", type=float, nargs="+", default=[0.0], help="strain (one per centre level)"
    )
    ap.add_argument("--relax", type=int, default=0, help="relax + validate this many per level")
    ap.add_argument("--keep", type=Path, help="with --relax: keep CIFs and tables here")
    ap.add_argument(
        "--reference",
        action="store_true",
        help="with --relax: also relax + validate the same MOFs as they are in CoRE MOF",
    )
    ap.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an AssemblyParams override, e.g. bond_weight=0.25 (repeatable)",
    )
    ap.add_argument(
        "--relax-set",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a relax parameter for --relax, e.g. metal_bond_lengths=false (repeatable)",
    )
    args = ap.parse_args()
    over = dict(args.set)
    params = AssemblyParams(conformers=args.conformers, seed=args.seed, **over)
    cells = (
        args.cell_noise * len(args.centre_noise) if len(args.cell_noise) == 1 else args.cell_noise
    )
    cfg = DatasetConfig(sample_size=args.sample, seed=args.seed, max_atoms=500)
    structures, _ = select_dataset(cfg, progress=False)
    decs, _ = decompose_all(structures, DecomposeParams(), processes=args.processes, progress=False)
    train = structures[structures["split"] == "train"]
    train_ids = set(train["id"])
    mofs_all, inst_all, _ = tables(decs, structures)
    _, train_inst, train_bb = tables([d for d in decs if d.id in train_ids], train)
    _STATE["lib"] = load_library(train_bb, train_inst, args.conformers)
    _STATE["own"] = _own_library(inst_all) if args.own_blocks else None
    held_all = mofs_all[mofs_all["split"] != "train"]
    if args.own_blocks:
        known = held_all["id"].apply(lambda _: True)
    else:
        known = held_all["block_ids"].apply(lambda ids: all(b in _STATE["lib"] for b in ids))
    held = held_all[known].head(args.n)
    orig = structures.set_index("id")
    lib_desc = (
        "each MOF's own blocks"
        if args.own_blocks
        else f"library from {len(train_inst['mof_id'].unique())} training MOFs: {len(train_bb)} "
        f"blocks, 1 representative + up to {args.conformers} other conformations each"
    )
    print(f"sample of {len(structures)} CoRE MOFs, {len(mofs_all)} decomposed; {lib_desc}")
    print(
        f"held-out decomposed MOFs: {len(held_all)}, {int(known.sum())} with all blocks known; "
        f"assembling {len(held)}; overrides: {over or 'none'}; relax overrides: "
        f"{dict(args.relax_set) or 'none'}"
    )
    for centre_noise, cell_noise in zip(args.centre_noise, cells):
        jobs = [
            (
                r,
                {
                    "species": list(orig.loc[r["id"], "species"]),
                    "frac_coords": orig.loc[r["id"], "frac_coords"],
                },
                centre_noise,
                cell_noise,
                args.seed * 100_003 + k,
                params,
            )
            for k, r in enumerate(held.to_dict("records"))
        ]
        out = progress_map(_one, jobs, args.processes, f"assemble at {centre_noise:g} A")
        ok = np.array([o[0] for o in out])
        status = np.array([o[1].status for o in out])
        repair = np.array([o[1].repair_rms for o in out], dtype=float)
        secs = np.array([o[2] for o in out])
        mism = np.array([o[1].mismatch_max for o in out], dtype=float)
        print(
            f"centre noise {centre_noise:.2f} A, cell strain {cell_noise:.3f}: assembled "
            f"{100 * np.mean(status == 'assembled'):.0f}%, bonded "
            f"{100 * np.mean(status == 'bonded'):.0f}%, failed "
            f"{100 * np.mean(status == 'failed'):.0f}%, recovered {100 * ok.mean():.0f}%; "
            f"max mismatch median {np.nanmedian(mism):.2f} A; repair RMS median "
            f"{np.nanmedian(repair):.2f} A, p90 {np.nanpercentile(repair, 90):.2f} A; "
            f"{np.median(secs):.2f} s per structure (median, one core; p90 "
            f"{np.percentile(secs, 90):.2f})",
            flush=True,
        )
        from mof.stage import reason_counts

        print(f"  reasons: {reason_counts([o[1].reason for o in out], most=None)}", flush=True)
        if args.relax:
            keep = None
            if args.keep is not None:
                keep = args.keep / f"centre{centre_noise:g}_cell{cell_noise:g}"
                keep.mkdir(parents=True, exist_ok=True)
            built = [(o[1].crystal, o[1].bonds) for o in out[: args.relax]]
            rv = _relax_and_validate(built, args.processes, dict(args.relax_set), keep)
            _print_relaxed(f"relax + validate of the first {rv['n']}", rv)
    if args.relax and args.reference:
        # the same MOFs as they are in CoRE MOF: what relax + validate gives real structures
        originals = [
            (crystal_from_row({**orig.loc[i].to_dict(), "id": i}), None)
            for i in held["id"].head(args.relax)
        ]
        rv = _relax_and_validate(originals, args.processes, dict(args.relax_set))
        _print_relaxed(f"reference: the same {rv['n']} MOFs from CoRE MOF", rv)


def _print_relaxed(what: str, rv: dict) -> None:
    pct = {
        k: f"{100 * v / rv['n']:.0f}%"
        for k, v in rv.items()
        if k not in ("n", "reasons", "invalid")
    }
    print(
        f"  {what}: relaxed (strict) {pct['relaxed']}, valid (strict) {pct['valid']}; "
        f"relaxation finished {pct['finished']}, valid by MOFDiff's definition (any relaxed "
        f"CIF) {pct['valid_any']} (relax failures: {rv['reasons'] or 'none'})",
        flush=True,
    )
    print(f"  failed checks among relaxed CIFs: {rv['invalid'] or 'none'}", flush=True)


if __name__ == "__main__":
    main()
