"""The preprocess stage: decompose every selected structure and write the four tables.

``mofs.parquet``: one row per decomposed MOF

==================  =========================================================================
id, split, formula  as in the structures table
n_atoms             atoms in the cell
lattice             9 floats, row-major (3, 3) row-vector lattice, Angstrom
n_blocks            K, building blocks in the cell
n_nodes, n_linkers  how many of them are metal nodes / organic linkers
block_ids           K building-block ids (keys of building_blocks.parquet)
block_kinds         K x "node" / "linker"
n_connections       K connection-point counts
centres_frac        3 K floats, row-major (K, 3) Gaussian centres, fractional, wrapped to [0, 1)
sigmas              9 K floats, row-major (K, 3, 3) Gaussian shapes, Cartesian, Angstrom^2
n_dropped_molecules isolated molecules removed (only with preprocess.drop_isolated_molecules)
lcd ... has_oms     source properties carried over from the structures table
==================  =========================================================================

``block_instances.parquet``: one row per building block of each MOF (everything needed to put
the atoms back: ``cart = centre_frac @ lattice + local_coords @ rotation.T``)

==================  =========================================================================
mof_id, block_index the MOF and the block's position in its ``block_ids``
block_id, kind      identity and node/linker
elements            n element symbols
atom_indices        n indices of the block's atoms in the structures-table row
local_coords        3 n floats, (n, 3) atom positions in the principal-axis frame, Angstrom
bonds               2 b ints, (b, 2) intra-block bonds as local atom index pairs
cp_local            3 m floats, (m, 3) connection points in the local frame, Angstrom
cp_atom             m local indices of the atom each connection point is attached to
cp_partner_block    m block indices of the block across each cut bond
cp_partner_cp       m connection-point indices (within that block) of the matching point
cp_partner_element  m element symbols of the atom across each cut bond
centre_frac         3 floats, Gaussian centre, fractional, wrapped
rotation            9 floats, (3, 3) principal axes as columns (proper rotation)
sigma               9 floats, (3, 3) SPD shape, Angstrom^2
==================  =========================================================================

``building_blocks.parquet``: one row per distinct building block (graph identity)

==================  =========================================================================
block_id            ``N``/``L`` + 12 hex digits of the SMILES hash
kind                node / linker
smiles              canonical SMILES of the bond graph, connection points as ``*``
formula             element counts of the block's atoms
elements            element symbol per atom (of the representative instance)
n_atoms             atoms in the block
n_connections       connection points
count               instances over all decomposed MOFs
n_mofs, n_mofs_train  MOFs containing it (all / train split)
example_mof         the MOF the representative instance comes from
local_coords, cp_local, cp_atom, cp_partner_element, bonds  the representative instance
radius_of_gyration  sqrt(trace(Sigma)) of the representative, Angstrom
==================  =========================================================================

``rejects.parquet``: one row per structure that was not decomposed: ``id``, ``split``,
``reason`` (a code from ``mof.decompose.REJECT_REASONS``), ``detail``. Together with
``mofs.parquet`` it names every row of the structures table exactly once.
"""

from __future__ import annotations

import traceback

import numpy as np
import pandas as pd

from mof.dataset import crystal_from_row
from mof.decompose import DecomposeParams, Decomposition, Rejection, formula_of
from mof.elements import symbol
from mof.parallel import progress_map
from mof.tables import PROPERTIES, from_cell, to_cell

CARRIED_PROPERTIES = PROPERTIES  # carried over from the structures table

_PARAMS: DecomposeParams | None = None


def _init(params: DecomposeParams) -> None:
    global _PARAMS
    _PARAMS = params


def _work(row: dict) -> tuple[str, Decomposition | tuple[str, str]]:
    from mof.decompose import decompose

    cid = row["id"]
    err = row.get("parse_error")
    if isinstance(err, str) and err:
        code = "multiple_data_blocks" if row.get("parse_reason") == "multiple_data_blocks" else ""
        return cid, (code or "parse_error", err)
    try:
        return cid, decompose(crystal_from_row(row), _PARAMS)
    except Rejection as r:
        return cid, (r.reason, r.detail)
    except Exception as e:  # one bad structure never kills the batch
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        return cid, ("error", tb)


def decompose_all(
    structures: pd.DataFrame,
    params: DecomposeParams,
    processes: int = 1,
    progress: bool = True,
) -> tuple[list[Decomposition], pd.DataFrame]:
    """Decompose every row of a structures table, in parallel over ``processes``.

    Returns:
        (decompositions in input order, rejects table with id/split/reason/detail).
    """
    cols = ["id", "parse_error", "parse_reason", "lattice", "species", "frac_coords", "occupancy"]
    rows = structures.reindex(columns=cols).to_dict("records")
    split_of = dict(zip(structures["id"], structures["split"]))
    results = progress_map(
        _work,
        rows,
        processes,
        "preprocess: decomposing",
        _init,
        (params,),
        min_parallel=8,
        progress=progress,
    )
    decs = [r for _, r in results if isinstance(r, Decomposition)]
    rej = [
        {"id": cid, "split": split_of[cid], "reason": r[0], "detail": r[1]}
        for cid, r in results
        if not isinstance(r, Decomposition)
    ]
    rejects = pd.DataFrame(rej, columns=["id", "split", "reason", "detail"])
    return decs, rejects


def tables(
    decs: list[Decomposition], structures: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Build (mofs, block_instances, building_blocks) tables from decompositions."""
    meta = structures.set_index("id")
    mof_rows, inst_rows = [], []
    for d in decs:
        m = meta.loc[d.id]
        b = d.blocks
        row = {
            "id": d.id,
            "split": m["split"],
            "formula": m["formula"],
            "n_atoms": d.n_atoms,
            "lattice": to_cell(d.lattice),
            "n_blocks": len(b),
            "n_nodes": sum(x.kind == "node" for x in b),
            "n_linkers": sum(x.kind == "linker" for x in b),
            "block_ids": [x.block_id for x in b],
            "block_kinds": [x.kind for x in b],
            "n_connections": [x.n_connections for x in b],
            "centres_frac": to_cell(np.stack([x.centre_frac for x in b])),
            "sigmas": to_cell(np.stack([x.sigma for x in b])),
            "n_dropped_molecules": d.n_dropped_molecules,
        }
        for c in CARRIED_PROPERTIES:
            row[c] = m.get(c)
        mof_rows.append(row)
        for k, x in enumerate(b):
            inst_rows.append(
                {
                    "mof_id": d.id,
                    "block_index": k,
                    "block_id": x.block_id,
                    "kind": x.kind,
                    "smiles": x.smiles,
                    "split": m["split"],
                    "elements": x.elements,
                    "atom_indices": to_cell(x.atom_indices, np.int64),
                    "local_coords": to_cell(x.local),
                    "bonds": to_cell(x.bonds, np.int64),
                    "cp_local": to_cell(x.cp_local),
                    "cp_atom": to_cell(x.cp_atom, np.int64),
                    "cp_partner_block": to_cell(x.cp_partner[:, 0], np.int64),
                    "cp_partner_cp": to_cell(x.cp_partner[:, 1], np.int64),
                    "cp_partner_element": [symbol(int(v)) for v in x.cp_partner_z],
                    "centre_frac": to_cell(x.centre_frac),
                    "rotation": to_cell(x.rotation),
                    "sigma": to_cell(x.sigma),
                }
            )
    mofs = pd.DataFrame(mof_rows)
    inst = pd.DataFrame(inst_rows)
    if inst.empty:
        return mofs, inst, pd.DataFrame(columns=["block_id", "kind", "smiles", "count"])
    # the representative geometry comes from a training MOF wherever the block occurs in one
    # (held-out structures must not leak into the library that assembly and benchmarks use)
    g = inst.groupby("block_id", sort=True)
    by_split = inst.iloc[np.argsort((inst["split"] != "train").to_numpy(), kind="stable")]
    first = by_split.groupby("block_id", sort=True).head(1).set_index("block_id").sort_index()
    bb = pd.DataFrame(
        {
            "block_id": first.index,
            "kind": first["kind"].to_numpy(),
            "smiles": first["smiles"].to_numpy(),
        }
    )
    from mof.elements import atomic_numbers

    bb["formula"] = [formula_of(atomic_numbers(e)) for e in first["elements"]]
    bb["elements"] = first["elements"].to_numpy()
    bb["n_atoms"] = [len(e) for e in first["elements"]]
    bb["n_connections"] = [len(c) // 3 for c in first["cp_local"]]
    bb["count"] = g.size().reindex(first.index).to_numpy()
    bb["n_mofs"] = g["mof_id"].nunique().reindex(first.index).to_numpy()
    train = inst[inst["split"] == "train"].groupby("block_id")["mof_id"].nunique()
    bb["n_mofs_train"] = train.reindex(first.index).fillna(0).astype(np.int64).to_numpy()
    bb["example_mof"] = first["mof_id"].to_numpy()
    bb["local_coords"] = first["local_coords"].to_numpy()
    bb["cp_local"] = first["cp_local"].to_numpy()
    bb["cp_atom"] = first["cp_atom"].to_numpy()
    bb["cp_partner_element"] = first["cp_partner_element"].to_numpy()
    bb["bonds"] = first["bonds"].to_numpy()
    bb["radius_of_gyration"] = [
        float(np.sqrt(np.trace(from_cell(s, (3, 3))))) for s in first["sigma"]
    ]
    bb = bb.sort_values(["count", "block_id"], ascending=[False, True]).reset_index(drop=True)
    return mofs, inst, bb


def summary_line(n_in: int, decs: list[Decomposition], rejects: pd.DataFrame, n_blocks: int) -> str:
    """``[preprocess] N in -> M decomposed, R rejected (reason counts) ...``."""
    from mof.stage import reason_counts

    rs = reason_counts(rejects["reason"] if len(rejects) else [], most=None)
    ks = [len(d.blocks) for d in decs]
    kdesc = f"K median {int(np.median(ks))}, max {max(ks)}" if ks else "K -"
    return (
        f"[preprocess] {n_in} in -> {len(decs)} decomposed, {len(rejects)} rejected ({rs}); "
        f"{kdesc}; {n_blocks} distinct building blocks"
    )


def params_from_config(cfg: dict) -> DecomposeParams:
    """DecomposeParams (and its BondParams) from the ``preprocess`` section of the config."""
    from dataclasses import replace

    from mof.bonds import BondParams
    from mof.stage import params_from

    decompose = params_from(DecomposeParams, cfg, "preprocess")
    return replace(decompose, bonds=params_from(BondParams, cfg, "preprocess"))


def run(inputs: dict, outputs: dict, cfg: dict, *, threads: int = 1, say=print) -> None:
    """The preprocess stage: ``inputs["table"]`` (the structures table) in, the four tables out
    (``outputs``: ``mofs``, ``instances``, ``blocks``, ``rejects``)."""
    from mof.tables import read_table, write_table

    structures = read_table(inputs["table"])
    decs, rejects = decompose_all(structures, params_from_config(cfg), processes=threads)
    mofs, inst, bb = tables(decs, structures)
    write_table(mofs, outputs["mofs"])
    write_table(inst, outputs["instances"])
    write_table(bb, outputs["blocks"])
    write_table(rejects, outputs["rejects"])
    say(summary_line(len(structures), decs, rejects, len(bb)))
