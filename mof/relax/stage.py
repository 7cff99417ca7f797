"""Many structures: :func:`relax_cifs` (worker processes, kept results of an interrupted run)
and :func:`run`, the ``relax_uff`` stage."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from mof import resume
from mof.relax.params import COLUMNS, RelaxParams
from mof.relax.structure import relax_structure

__all__ = ["relax_cifs", "run"]


def _work(args: tuple) -> dict:
    sid, cif, out_cif, p, resume_dir, key = args
    row = relax_structure(sid, cif, out_cif, p)
    if resume_dir is not None:
        text = Path(out_cif).read_text() if row["cif"] else None
        resume.save_result(resume_dir, sid, key, row, text)
    return row


def relax_cifs(
    items: list[tuple[str, str]],
    out_dir: str | Path | None,
    params: RelaxParams | None = None,
    processes: int = 1,
    progress: bool = True,
    resume_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Relax (id, CIF path) pairs over ``processes`` workers; one row per structure, in order.

    Relaxed CIFs are written to ``out_dir/<id>.cif`` (not written when ``out_dir`` is None).
    With ``resume_dir``, structures finished by an earlier run with the same input and parameters
    are taken from there (``df.attrs["reused"]`` counts them), the others are saved there.
    """
    from mof.parallel import progress_map

    p = params or RelaxParams()
    resume.sweep_stale_temp()
    resume.sweep_stale_temp("child")
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in asdict(p).items() if k != "omp_threads"}
    done: dict[int, dict] = {}
    jobs = []
    for k, (sid, cif) in enumerate(items):
        out_cif = None if out_dir is None else str(Path(out_dir) / f"{sid}.cif")
        key = resume.result_key(cif, settings) if resume_dir is not None else ""
        hit = resume.load_result(resume_dir, sid, key) if resume_dir is not None else None
        if hit is not None and (not hit[0].get("cif") or (hit[1] and out_cif)):
            if hit[0].get("cif"):
                Path(out_cif).write_text(hit[1])
            done[k] = hit[0]
        else:
            jobs.append((sid, str(cif), out_cif, p, resume_dir, key))
    fresh = iter(progress_map(_work, jobs, processes, "relax: structures", progress=progress))
    rows = [done[k] if k in done else next(fresh) for k in range(len(items))]
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["reused"] = len(done)
    for c in ("n_atoms", "n_atoms_simulated", "steps"):
        df[c] = df[c].astype("Int64")
    return df


def run(inputs: dict, outputs: dict, cfg: dict, *, threads: int = 1, say=print) -> pd.DataFrame:
    """The relax_uff stage: every ``assembled`` and ``bonded`` structure (the assembly's hand-off,
    bonds in its CIF) is relaxed; one row each. ``inputs``: ``table`` (assembled.parquet) and
    ``cifs`` (folder); ``outputs``: ``table`` (relaxed.parquet) and ``cifs`` (folder)."""
    from mof.stage import params_from, reason_counts, structures_with_status
    from mof.tables import read_table, write_table

    resume.exit_on_sigterm()
    table = read_table(inputs["table"])
    items = structures_with_status(table, inputs["cifs"], ("assembled", "bonded"))
    params = params_from(RelaxParams, cfg, "relax")
    workers = max(1, threads // max(1, params.omp_threads))
    keep = Path(outputs["cifs"]).parent / "resume"
    df = relax_cifs(items, outputs["cifs"], params, workers, resume_dir=keep)
    write_table(df, outputs["table"])
    n_ok = int((df["status"] == "relaxed").sum()) if len(df) else 0
    top = reason_counts(df["reason"])
    timing = f"median {df['seconds'].median():.1f} s each; " if len(df) else ""
    say(
        f"[relax_uff] {len(items)} assembled or bonded structures -> {n_ok} relaxed "
        f"({df.attrs['reused']} kept from an interrupted run) "
        f"({timing}failures: {top})"
    )
    return df
