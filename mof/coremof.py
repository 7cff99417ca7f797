"""The CoRE MOF datasets shipped by the ``core-mof`` wheel: the archive of CIFs (read in one
streaming pass) and the CSV of pore properties."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = ["CORE_MOF_DATASETS", "core_mof_archive", "core_mof_properties", "iter_core_mof_cifs"]

CORE_MOF_DATASETS = {"2019-ASR", "2019-FSR", "2014"}


def _core_mof_data():
    try:
        from CoRE_MOF import data
    except ImportError as e:  # pragma: no cover - the package is a hard dependency
        raise RuntimeError("the core-mof package is not installed (pip install core-mof)") from e
    return resources.files(data)


def core_mof_archive(dataset: str) -> Path:
    """Path of the tar.xz archive of one CoRE MOF dataset shipped by the ``core-mof`` wheel."""
    if dataset not in CORE_MOF_DATASETS:
        raise ValueError(
            f"unknown CoRE MOF dataset {dataset!r}; one of {sorted(CORE_MOF_DATASETS)}"
        )
    return Path(str(_core_mof_data() / f"{dataset}.tar.xz"))


def core_mof_properties(dataset: str) -> pd.DataFrame:
    """The CoRE MOF CSV of one dataset (pore properties, metals, flags), indexed by structure id."""
    if dataset not in CORE_MOF_DATASETS:
        raise ValueError(
            f"unknown CoRE MOF dataset {dataset!r}; one of {sorted(CORE_MOF_DATASETS)}"
        )
    df = pd.read_csv(Path(str(_core_mof_data() / f"{dataset}.csv")), low_memory=False)
    df = df.loc[:, ~df.columns.str.startswith("Unnamed")]
    df["filename"] = df["filename"].astype(str).str.replace(r"\.cif$", "", regex=True)
    return df.set_index("filename")


def iter_core_mof_cifs(dataset: str, wanted: set[str] | None = None) -> Iterator[tuple[str, str]]:
    """Yield (id, CIF text) from a CoRE MOF archive in one pass (no per-entry rescans)."""
    with tarfile.open(core_mof_archive(dataset), "r:xz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".cif"):
                continue
            cid = Path(member.name).stem
            if wanted is not None and cid not in wanted:
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            yield cid, fh.read().decode("utf-8", errors="replace")
