"""The Parquet tables the stages exchange: reading, writing, column lists, and array cells.

Parquet cells hold flat lists; an array (a lattice, coordinates, Gaussian shapes, bonds) is
stored row-major, flattened (:func:`to_cell`), and read back with its shape (:func:`from_cell`,
or :func:`column_array` for the columns of :data:`CELL_SHAPES`). What each column means is
documented where its table is made: :mod:`mof.dataset` (structures, excluded) and
:mod:`mof.preprocess` (mofs, block instances, building blocks, rejects); the relaxation's
columns are :data:`mof.relax.COLUMNS`, validation's are built in :mod:`mof.validate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "BLOCK_INSTANCES",
    "BUILDING_BLOCKS",
    "CELL_SHAPES",
    "EXCLUDED",
    "GEOMETRY_COLUMNS",
    "MOFS",
    "PROPERTIES",
    "REJECTS",
    "STRUCTURES",
    "column_array",
    "from_cell",
    "read_table",
    "to_cell",
    "write_table",
]

# ----------------------------------------------------------------------------------------------
# Column lists (in the order the tables are written)
# ----------------------------------------------------------------------------------------------

# the source's properties (CoRE MOF's CSV), carried from the structures table to mofs.parquet
PROPERTIES = [
    "lcd",
    "pld",
    "lfpd",
    "density",
    "asa_m2_g",
    "asa_m2_cm3",
    "void_fraction",
    "metals",
    "has_oms",
]

# results/dataset/structures.parquet (the property columns come last, see mof.dataset)
STRUCTURES = [
    "id",
    "source",
    "split",
    "disorder_flag",
    "parse_error",
    "parse_reason",
    "formula",
    "n_atoms",
    "lattice",
    "species",
    "frac_coords",
    "occupancy",
    *PROPERTIES,
]
# results/dataset/excluded.parquet
EXCLUDED = ["id", "reason", "detail"]
# results/preprocess/mofs.parquet (then the carried properties, lcd ... has_oms)
MOFS = [
    "id",
    "split",
    "formula",
    "n_atoms",
    "lattice",
    "n_blocks",
    "n_nodes",
    "n_linkers",
    "block_ids",
    "block_kinds",
    "n_connections",
    "centres_frac",
    "sigmas",
    "n_dropped_molecules",
]
# results/preprocess/block_instances.parquet
BLOCK_INSTANCES = [
    "mof_id",
    "block_index",
    "block_id",
    "kind",
    "smiles",
    "split",
    "elements",
    "atom_indices",
    "local_coords",
    "bonds",
    "cp_local",
    "cp_atom",
    "cp_partner_block",
    "cp_partner_cp",
    "cp_partner_element",
    "centre_frac",
    "rotation",
    "sigma",
]
# results/preprocess/building_blocks.parquet
BUILDING_BLOCKS = [
    "block_id",
    "kind",
    "smiles",
    "formula",
    "elements",
    "n_atoms",
    "n_connections",
    "count",
    "n_mofs",
    "n_mofs_train",
    "example_mof",
    "local_coords",
    "cp_local",
    "cp_atom",
    "cp_partner_element",
    "bonds",
    "radius_of_gyration",
]
# results/preprocess/rejects.parquet
REJECTS = ["id", "split", "reason", "detail"]

# the columns of block_instances.parquet / building_blocks.parquet that hold one instance's
# geometry (what assembly's library and the embedding library read)
GEOMETRY_COLUMNS = (
    "elements",
    "local_coords",
    "cp_local",
    "cp_atom",
    "cp_partner_element",
    "bonds",
)

# ----------------------------------------------------------------------------------------------
# Array cells
# ----------------------------------------------------------------------------------------------

# the shape (row-major, -1: one row per atom / block / bond) and dtype of every array column
CELL_SHAPES: dict[str, tuple[tuple[int, ...], type]] = {
    "lattice": ((3, 3), float),
    "frac_coords": ((-1, 3), float),
    "centres_frac": ((-1, 3), float),
    "initial_centres_frac": ((-1, 3), float),
    "sigmas": ((-1, 3, 3), float),
    "local_coords": ((-1, 3), float),
    "cp_local": ((-1, 3), float),
    "bonds": ((-1, 2), np.int64),
    "centre_frac": ((3,), float),
    "rotation": ((3, 3), float),
    "sigma": ((3, 3), float),
}


def to_cell(array: Any, dtype: type = float) -> list:
    """A Parquet cell: ``array`` as ``dtype``, flattened row-major, as a list."""
    return np.asarray(array, dtype=dtype).reshape(-1).tolist()


def from_cell(cell: Any, shape: Sequence[int], dtype: type = float) -> np.ndarray:
    """The array of a Parquet cell written by :func:`to_cell`, reshaped to ``shape`` (an empty
    cell of a ``(-1, ...)`` shape gives zero rows)."""
    return np.asarray(cell, dtype=dtype).reshape(tuple(shape))


def column_array(row: Mapping | Any, column: str) -> np.ndarray:
    """``row[column]`` as its array (shape and dtype from :data:`CELL_SHAPES`); ``row`` is a
    dict, a pandas row or a named tuple."""
    shape, dtype = CELL_SHAPES[column]
    cell = row[column] if isinstance(row, Mapping | pd.Series) else getattr(row, column)
    return from_cell(cell, shape, dtype)


# ----------------------------------------------------------------------------------------------
# Reading and writing
# ----------------------------------------------------------------------------------------------


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a DataFrame as Parquet (creates the parent folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, path)


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table written by :func:`write_table`."""
    return pq.read_table(path, columns=columns).to_pandas()
