"""The ``assemble_mofs`` stage: every coarse MOF of a table assembled in worker processes
(:func:`mof.assemble.search.assemble`), one row per sample whatever its status, one CIF with
its bonds per structure that got atoms."""

from __future__ import annotations

import numpy as np

from mof.assemble.search import AssemblyParams, AssemblyResult, assemble
from mof.crystal import Crystal
from mof.library import LibraryBlock, load_library
from mof.tables import GEOMETRY_COLUMNS, column_array

_LIB: dict[str, LibraryBlock] = {}
_PARAMS = AssemblyParams()


def _init_worker(lib: dict[str, LibraryBlock], params: AssemblyParams) -> None:
    global _LIB, _PARAMS
    _LIB, _PARAMS = lib, params


def _assemble_row(row: dict) -> tuple[dict, Crystal | None, np.ndarray | None]:
    sid = row["sample_id"]
    out = {"sample_id": sid, "n_blocks": int(row["n_blocks"])}
    try:
        missing = [b for b in row["block_ids"] if b not in _LIB]
        if missing:
            res = AssemblyResult(
                "failed",
                "unknown_block",
                None,
                detail=f"building blocks not in the library: {missing[:3]}",
            )
        else:
            res = assemble(
                column_array(row, "lattice"),
                column_array(row, "centres_frac"),
                column_array(row, "sigmas"),
                [_LIB[b] for b in row["block_ids"]],
                _PARAMS,
                structure_id=sid,
            )
    except Exception as e:  # one bad structure never stops the batch
        res = AssemblyResult("failed", "error", None, detail=f"{type(e).__name__}: {e}")
    out.update(
        status=res.status,
        reason=res.reason,
        detail=res.detail,
        n_atoms=res.n_atoms,
        n_cp_node=res.n_cp_node,
        n_cp_linker=res.n_cp_linker,
        mismatch_mean=res.mismatch_mean,
        mismatch_max=res.mismatch_max,
        bond_angle_max=res.bond_angle_max,
        min_atom_distance=res.min_atom_distance,
        repair_rms=res.repair_rms,
        repair_max=res.repair_max,
        cell_strain=res.cell_strain,
        seconds=res.seconds,
    )
    return out, res.crystal, res.bonds


def params_from_config(cfg: dict) -> AssemblyParams:
    from mof.stage import params_from

    return params_from(AssemblyParams, cfg, "assemble")


def assemble_table(
    coarse,
    library: dict[str, LibraryBlock],
    params: AssemblyParams,
    cif_dir,
    processes: int = 1,
    progress: bool = True,
):
    """Assemble every row of a coarse table (``sample_id``, ``n_blocks``, ``lattice``,
    ``centres_frac``, ``sigmas``, ``block_ids``); write one CIF (with bonds) per structure that
    got atoms (assembled, bonded or partial) into ``cif_dir``; return the per-structure table:
    sample_id, n_blocks, status, reason (codes), detail, n_atoms, n_cp_node, n_cp_linker,
    mismatch_mean, mismatch_max (A), bond_angle_max (degrees), min_atom_distance (A),
    repair_rms, repair_max (A, block displacement by the fit), cell_strain (fraction), seconds,
    cif (file name or null)."""
    from pathlib import Path

    import pandas as pd

    from mof.io import write_cif
    from mof.parallel import progress_map

    cif_dir = Path(cif_dir)
    cif_dir.mkdir(parents=True, exist_ok=True)
    cols = ["sample_id", "n_blocks", "lattice", "centres_frac", "sigmas", "block_ids"]
    rows = coarse[cols].to_dict("records")
    results = progress_map(
        _assemble_row,
        rows,
        processes,
        "assemble: structures",
        _init_worker,
        (library, params),
        min_parallel=4,
        progress=progress,
    )
    table = []
    for out, crystal, bonds in results:
        out["cif"] = None
        if crystal is not None:
            path = cif_dir / f"{out['sample_id']}.cif"
            write_cif(path, crystal, bonds)
            out["cif"] = path.name
        table.append(out)
    return pd.DataFrame(table)


def run(inputs: dict, outputs: dict, cfg: dict, *, threads: int = 1, say=print) -> None:
    """The assemble_mofs stage (the order of arguments every stage's ``run`` has: see
    :mod:`mof.stage`). ``inputs``: ``coarse`` (coarse.parquet), ``blocks`` (the library's
    building blocks) and, optionally, ``instances`` (block_instances.parquet: other conformers
    of each block, from training MOFs); ``outputs``: ``table`` and ``cifs`` (folder)."""
    from collections import Counter

    from mof.stage import reason_counts
    from mof.tables import read_table, write_table

    coarse = read_table(inputs["coarse"])
    params = params_from_config(cfg)
    inst = None
    if inputs.get("instances") and params.conformers > 0:
        inst = read_table(
            inputs["instances"],
            columns=["mof_id", "block_id", "kind", "split", *GEOMETRY_COLUMNS],
        )
        inst = inst[inst["split"] == "train"]
    lib = load_library(read_table(inputs["blocks"]), inst, params.conformers)
    table = assemble_table(coarse, lib, params, outputs["cifs"], threads)
    write_table(table, outputs["table"])
    status = Counter(table["status"])
    failed = table.loc[table["status"] != "assembled", "reason"]
    reasons = reason_counts(failed, most=None)
    built = table[table["cif"].notna()]
    say(
        f"[assemble_mofs] {len(coarse)} in -> {status['assembled']} assembled, "
        f"{status['bonded']} bonded (to relaxation with gaps or clashes), {status['partial']} "
        f"partial, {status['failed']} failed (reasons: {reasons}); median mismatch "
        f"{built['mismatch_mean'].median():.2f} A, median repair {built['repair_rms'].median():.2f}"
        f" A, {built['seconds'].median():.2f} s per built structure"
    )
