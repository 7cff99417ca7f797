"""Selection of the structure set: CoRE MOF (from the ``core-mof`` wheel) or any folder of CIFs.

The output table (``results/dataset/structures.parquet``) has one row per selected structure:

=================  ===========================================================================
column             meaning
=================  ===========================================================================
id                 structure id (CIF file name without ``.cif``)
source             ``core-mof:2019-ASR`` or ``folder:<path>``
split              ``train`` / ``val`` / ``test`` (deterministic hash of seed and id)
formula            cell formula (Hill order); empty when the CIF could not be read
n_atoms            atoms in the cell (-1 when the CIF could not be read)
lattice            9 floats, row-major (3, 3) row-vector lattice, Angstrom
species            element symbol per atom
frac_coords        3 N floats, row-major (N, 3) fractional coordinates
occupancy          N floats, site occupancies
disorder_flag      the source flags the entry as disordered (CoRE MOF ``DISORDER`` column)
parse_error        why the CIF could not be read (null when it could)
parse_reason       its code: ``bad_cif`` or ``multiple_data_blocks`` (null when it could)
lcd, pld, lfpd     largest cavity / pore-limiting / largest free-sphere diameter, A (source CSV)
density            g/cm^3 (the CoRE MOF CSV column ``cm3_g``)
asa_m2_g, asa_m2_cm3  accessible surface area
void_fraction      accessible void fraction (``AV_VF``)
metals             metals listed by the source (``All_Metals``)
has_oms            open metal site flag (``Has_OMS``)
=================  ===========================================================================

Every input is accounted for by id: a structure that is read but not selected is a row of the
excluded table (``results/dataset/excluded.parquet``: ``id``, ``reason``, ``detail``) with reason
``too_many_atoms`` (more than ``max_atoms``), ``disorder_flag`` (flagged by the source CSV, with
``drop_disordered``) or ``not_sampled`` (left out by ``sample_size``). A folder's CIFs are its
entries named ``*.cif`` in any letter case; one that cannot be read (a dangling link, a folder
named ``x.cif``) is a row with its ``parse_error``, like any other unreadable CIF.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from mof.cifcheck import CifError
from mof.coremof import core_mof_properties, iter_core_mof_cifs
from mof.crystal import Crystal
from mof.io import iter_cif_folder, parse_cif
from mof.tables import EXCLUDED, column_array, to_cell

PROPERTY_COLUMNS = {
    "LCD": "lcd",
    "PLD": "pld",
    "LFPD": "lfpd",
    "cm3_g": "density",
    "ASA_m2_g": "asa_m2_g",
    "ASA_m2_cm3": "asa_m2_cm3",
    "AV_VF": "void_fraction",
    "All_Metals": "metals",
    "Has_OMS": "has_oms",
}
FLOAT_PROPS = ["lcd", "pld", "lfpd", "density", "asa_m2_g", "asa_m2_cm3", "void_fraction"]


@dataclass
class DatasetConfig:
    source: str = "core-mof"
    core_mof_set: str = "2019-ASR"
    folder: str | None = None
    properties_csv: str | None = None
    max_atoms: int = 500
    sample_size: int | None = None
    seed: int = 0
    drop_disordered: bool = True
    split: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})

    @classmethod
    def from_dict(cls, d: dict) -> DatasetConfig:
        """From the ``dataset`` config section (missing keys take the schema's defaults)."""
        from mof.stage import params_from

        return params_from(cls, d, "dataset")


def assign_split(ids: list[str], fractions: dict[str, float], seed: int) -> list[str]:
    """Deterministic split by structure: a hash of (seed, id) mapped to [0, 1) picks the split.

    Adding or removing other structures never moves a structure to another split.
    """
    total = sum(fractions.values())
    if total <= 0:
        raise ValueError("split fractions must sum to a positive number")
    edges = np.cumsum([fractions.get(k, 0.0) / total for k in ("train", "val", "test")])
    out = []
    for cid in ids:
        h = int.from_bytes(hashlib.sha1(f"{seed}:{cid}".encode()).digest()[:8], "big")
        u = h / 2.0**64
        out.append("train" if u < edges[0] else "val" if u < edges[1] else "test")
    return out


def _load_properties(cfg: DatasetConfig) -> pd.DataFrame | None:
    if cfg.source == "core-mof":
        props = core_mof_properties(cfg.core_mof_set)
    elif cfg.properties_csv:
        props = pd.read_csv(cfg.properties_csv, low_memory=False)
        key = "filename" if "filename" in props.columns else props.columns[0]
        props[key] = props[key].astype(str).str.replace(r"\.cif$", "", regex=True)
        props = props.set_index(key)
    else:
        return None
    return props


def _iter_source(cfg: DatasetConfig, wanted: set[str] | None):
    if cfg.source == "core-mof":
        return iter_core_mof_cifs(cfg.core_mof_set, wanted)
    if cfg.source == "folder":
        if not cfg.folder:
            raise ValueError("dataset.source is 'folder' but dataset.folder is not set")
        it = iter_cif_folder(cfg.folder)
        return ((cid, txt) for cid, txt in it if wanted is None or cid in wanted)
    raise ValueError(f"unknown dataset.source {cfg.source!r} (core-mof or folder)")


def _source_label(cfg: DatasetConfig) -> str:
    return f"core-mof:{cfg.core_mof_set}" if cfg.source == "core-mof" else f"folder:{cfg.folder}"


def _excluded(cid: str, reason: str, detail: str) -> dict:
    return {"id": cid, "reason": reason, "detail": detail}


EXCLUDED_COLUMNS = EXCLUDED  # the columns of the excluded table (mof.tables)


def select_dataset(
    cfg: DatasetConfig, progress: bool = True, return_excluded: bool = False
) -> tuple[pd.DataFrame, str] | tuple[pd.DataFrame, str, pd.DataFrame]:
    """Read, filter, sample and split the structures.

    Returns:
        (structures table, one-line summary), and the excluded table (``id``, ``reason``,
        ``detail``) as a third item with ``return_excluded``.
    """
    props = _load_properties(cfg)
    excluded: Counter[str] = Counter()
    flagged_ids: set[str] = set()
    if props is not None and "DISORDER" in props.columns:
        flagged = props["DISORDER"].astype(str).str.upper().eq("DISORDER")
        flagged_ids = set(props.index[flagged])
    wanted: set[str] | None = None
    dropped: list[dict] = []  # the excluded table
    if cfg.source == "core-mof" and cfg.drop_disordered:
        wanted = set(props.index) - flagged_ids
        excluded["disorder_flag"] = len(flagged_ids)
        detail = "DISORDER in the source CSV"
        dropped += [_excluded(i, "disorder_flag", detail) for i in sorted(flagged_ids)]

    rows = []
    it = _iter_source(cfg, wanted)
    for cid, text in tqdm(
        it,
        desc="select_dataset: reading CIFs",
        unit="cif",
        disable=not progress,
        file=sys.stderr,
        mininterval=1.0,
    ):
        if cfg.drop_disordered and cid in flagged_ids:  # folder source with a properties CSV
            excluded["disorder_flag"] += 1
            dropped.append(_excluded(cid, "disorder_flag", "DISORDER in the properties CSV"))
            continue
        row = {"id": cid, "disorder_flag": cid in flagged_ids, "parse_error": None}
        row["parse_reason"] = None
        try:
            if isinstance(text, CifError):  # the folder entry could not be read
                raise text
            cr = parse_cif(text, cid)
            if cr.n_atoms > cfg.max_atoms:
                excluded["too_many_atoms"] += 1
                detail = f"{cr.n_atoms} atoms (max_atoms {cfg.max_atoms})"
                dropped.append(_excluded(cid, "too_many_atoms", detail))
                continue
            row.update(
                formula=cr.formula,
                n_atoms=cr.n_atoms,
                lattice=to_cell(cr.lattice),
                species=list(cr.species),
                frac_coords=to_cell(cr.frac),
                occupancy=to_cell(cr.occupancy),
            )
        except Exception as e:  # noqa: BLE001 - one unreadable file is a row, never a dead stage
            row.update(
                parse_reason=getattr(e, "reason", "bad_cif"),
                formula="",
                n_atoms=-1,
                lattice=[],
                species=[],
                frac_coords=[],
                occupancy=[],
                parse_error=str(e) or type(e).__name__,
            )
        rows.append(row)
    n_read = len(rows) + excluded["too_many_atoms"] + excluded["disorder_flag"]
    if not rows:
        raise ValueError(f"no structure selected from {_source_label(cfg)}")
    rows.sort(key=lambda r: r["id"])
    if cfg.sample_size is not None and cfg.sample_size < len(rows):
        rng = np.random.default_rng(cfg.seed)
        pick = np.sort(rng.choice(len(rows), size=cfg.sample_size, replace=False))
        excluded["not_sampled"] = len(rows) - cfg.sample_size
        kept = set(pick.tolist())
        dropped += [
            _excluded(r["id"], "not_sampled", f"sample_size {cfg.sample_size}, seed {cfg.seed}")
            for i, r in enumerate(rows)
            if i not in kept
        ]
        rows = [rows[i] for i in pick]
    df = pd.DataFrame(rows)
    df.insert(1, "source", _source_label(cfg))
    df.insert(2, "split", assign_split(df["id"].tolist(), cfg.split, cfg.seed))
    for col in PROPERTY_COLUMNS.values():
        df[col] = np.nan if col in FLOAT_PROPS else None
    if props is not None:
        sub = props.reindex(df["id"])
        for src, dst in PROPERTY_COLUMNS.items():
            if src in sub.columns:
                vals = sub[src].to_numpy()
                if dst in FLOAT_PROPS:
                    df[dst] = pd.to_numeric(pd.Series(vals), errors="coerce").to_numpy()
                else:
                    df[dst] = [None if pd.isna(v) else str(v) for v in vals]
    df["n_atoms"] = df["n_atoms"].astype(np.int64)
    splits = Counter(df["split"])
    n_err = int(df["parse_error"].notna().sum())
    excl = ", ".join(f"{k} {v}" for k, v in sorted(excluded.items()) if v) or "none"
    summary = (
        f"[select_dataset] {_source_label(cfg)}: {n_read} entries -> {len(df)} selected "
        f"(train {splits['train']}, val {splits['val']}, test {splits['test']}; "
        f"{n_err} unreadable, kept for the rejects table); excluded: {excl}"
    )
    if not return_excluded:
        return df, summary
    out = pd.DataFrame(dropped, columns=EXCLUDED_COLUMNS).sort_values("id", ignore_index=True)
    return df, summary, out


def crystal_from_row(row) -> Crystal:
    """Rebuild a :class:`mof.crystal.Crystal` from a structures-table row."""
    return Crystal(
        id=str(row["id"]) if "id" in row else str(getattr(row, "name", "structure")),
        lattice=column_array(row, "lattice"),
        species=list(row["species"]),
        frac=column_array(row, "frac_coords"),
        occupancy=np.asarray(row["occupancy"], dtype=float),
    )


def run(inputs: dict, outputs: dict, cfg: dict, *, threads: int = 1, say=print) -> pd.DataFrame:
    """The select_dataset stage (no ``inputs``; the order of arguments every stage's ``run`` has:
    see :mod:`mof.stage`): the structures table to ``outputs["table"]`` and, when named, the
    excluded structures to ``outputs["excluded"]``."""
    from mof.tables import write_table

    df, summary, dropped = select_dataset(DatasetConfig.from_dict(cfg), return_excluded=True)
    write_table(df, outputs["table"])
    if outputs.get("excluded"):
        write_table(dropped, outputs["excluded"])
    say(summary)
    return df
