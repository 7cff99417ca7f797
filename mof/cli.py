"""Relax and validate any folder of CIFs with the code of the relax_uff and validate_mofs rules,
outside the workflow (for example to put real or other generated structures beside ours):

    .venv/bin/python -m mof.cli relax CIF_DIR OUT_DIR [--processes N] [--timeout S] [--set K=V]
    .venv/bin/python -m mof.cli validate CIF_DIR OUT_DIR [--processes N] [--set K=V]

``relax`` writes ``OUT_DIR/relaxed.parquet`` (one row per CIF, the columns of
:data:`mof.relax.COLUMNS`) and the relaxed CIFs in ``OUT_DIR/cif/``; ``validate`` writes
``OUT_DIR/validation.parquet``. Each prints the one-line summary the rules print. CIFs are the
files named ``*.cif`` in any letter case. Parameters not given take the defaults of
:class:`mof.relax.RelaxParams` and :class:`mof.validate.ValidateParams`;
``--set max_iterations=200`` sets any of them. ``relax`` keeps each finished structure in
``OUT_DIR/resume/``: run again after an interruption, it relaxes only what had not finished.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _setting(text: str) -> tuple[str, object]:
    import yaml

    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str):  # YAML 1.1 reads "1e9" as a string
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    return key.strip(), parsed


def _params(cls, settings: list[tuple[str, object]], timeout: float | None, ap):
    extra = dict(settings)
    if timeout is not None:
        extra["timeout"] = timeout
    unknown = sorted(set(extra) - set(cls.__dataclass_fields__))
    if unknown:
        ap.error(f"unknown parameter(s) {', '.join(unknown)} for {cls.__name__}")
    return cls(**extra)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mof.cli", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("relax", "validate"):
        p = sub.add_parser(name)
        p.add_argument("cif_dir", help="folder of *.cif files")
        p.add_argument("out_dir", help="output folder (created)")
        p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
        p.add_argument("--timeout", type=_positive, default=None, help="seconds per structure")
        p.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if args.processes < 1:
        ap.error(f"--processes must be at least 1, got {args.processes}")

    from mof.io import cif_paths
    from mof.resume import exit_on_sigterm
    from mof.stage import reason_counts
    from mof.tables import write_table

    try:
        items = [(sid, str(path)) for sid, path in cif_paths(args.cif_dir)]
    except OSError as e:
        ap.error(str(e))
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        ap.error(f"OUT_DIR {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        ap.error(f"cannot create OUT_DIR {out}: {e.strerror or e}")
    exit_on_sigterm()
    if args.command == "relax":
        from mof.relax import RelaxParams, relax_cifs

        params = _params(RelaxParams, args.set, args.timeout, ap)
        df = relax_cifs(items, out / "cif", params, args.processes, resume_dir=out / "resume")
        write_table(df, out / "relaxed.parquet")
        n_ok = int((df["status"] == "relaxed").sum())
        print(
            f"[relax] {len(items)} CIFs -> {n_ok} relaxed in {out / 'cif'} "
            f"({df.attrs['reused']} kept from an earlier run); "
            f"failures: {reason_counts(df['reason'])}"
        )
    else:
        from mof.validate import ValidateParams, validate_cifs

        params = _params(ValidateParams, args.set, args.timeout, ap)
        df = validate_cifs(items, params, args.processes)
        write_table(df, out / "validation.parquet")
        print(
            f"[validate] {len(items)} CIFs -> {int(df['valid'].sum())} valid; "
            f"failures: {reason_counts(df['reason'])}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
