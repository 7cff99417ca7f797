"""Relax and validate any folder of CIFs with the code of the relax_uff and validate_mofs rules,
outside the workflow (for example to put real or other generated structures beside ours):

    .venv/bin/python -m mof.cli relax CIF_DIR OUT_DIR [--processes N] [--timeout S]
    .venv/bin/python -m mof.cli validate CIF_DIR OUT_DIR [--processes N]

``relax`` writes ``OUT_DIR/relaxed.parquet`` (one row per CIF, the columns of
:data:`mof.relax.COLUMNS`) and the relaxed CIFs in ``OUT_DIR/cif/``; ``validate`` writes
``OUT_DIR/validation.parquet``. Each prints the one-line summary the rules print. Parameters not
given take the defaults of ``config.yaml``'s ``relax:`` and ``validate:`` sections.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mof.cli", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("relax", "validate"):
        p = sub.add_parser(name)
        p.add_argument("cif_dir", help="folder of *.cif files")
        p.add_argument("out_dir", help="output folder (created)")
        p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
        p.add_argument("--timeout", type=float, default=None, help="seconds per structure")
    args = ap.parse_args(argv)

    from mof.io import cif_paths, write_table
    from mof.stage import reason_counts

    try:
        items = [(sid, str(path)) for sid, path in cif_paths(args.cif_dir)]
    except FileNotFoundError as e:
        ap.error(str(e))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    extra = {} if args.timeout is None else {"timeout": args.timeout}
    if args.command == "relax":
        from mof.relax import RelaxParams, relax_cifs

        df = relax_cifs(items, out / "cif", RelaxParams(**extra), args.processes)
        write_table(df, out / "relaxed.parquet")
        n_ok = int((df["status"] == "relaxed").sum())
        print(
            f"[relax] {len(items)} CIFs -> {n_ok} relaxed in {out / 'cif'}; "
            f"failures: {reason_counts(df['reason'])}"
        )
    else:
        from mof.validate import ValidateParams, validate_cifs

        df = validate_cifs(items, ValidateParams(**extra), args.processes)
        write_table(df, out / "validation.parquet")
        print(
            f"[validate] {len(items)} CIFs -> {int(df['valid'].sum())} valid; "
            f"failures: {reason_counts(df['reason'])}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
