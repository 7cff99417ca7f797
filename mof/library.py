"""The building-block library that assembly draws from: each block's geometry in its
principal-axis frame (atoms, connection points, the atoms that carry them, intra-block bonds and
the element seen across each cut bond in training), read from ``building_blocks.parquet`` and,
for other conformations, ``block_instances.parquet``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mof.tables import column_array


@dataclass
class LibraryBlock:
    """Geometry of one building block in its principal-axis frame."""

    block_id: str
    kind: str
    z: np.ndarray  # (n,)
    local: np.ndarray  # (n, 3)
    cp_local: np.ndarray  # (m, 3)
    cp_atom: np.ndarray  # (m,)
    bonds: np.ndarray  # (b, 2)
    cp_partner_z: np.ndarray | None = None  # (m,) element across each cut bond in training
    conformers: list[LibraryBlock] = field(default_factory=list)  # other instances to try


def block_from_row(r) -> LibraryBlock:
    from mof.elements import atomic_numbers

    return LibraryBlock(
        block_id=r.block_id,
        kind=r.kind,
        z=atomic_numbers(list(r.elements)),
        local=column_array(r, "local_coords"),
        cp_local=column_array(r, "cp_local"),
        cp_atom=np.asarray(r.cp_atom, dtype=np.int64),
        bonds=column_array(r, "bonds"),
        cp_partner_z=_partner_numbers(getattr(r, "cp_partner_element", None)),
    )


def _partner_numbers(elements) -> np.ndarray | None:
    """Atomic numbers of the partner elements (None for a table without the column)."""
    if elements is None or (np.isscalar(elements) and elements != elements):  # None or NaN
        return None
    from mof.elements import atomic_numbers

    return np.asarray(atomic_numbers(list(elements)), dtype=np.int64)


def load_library(building_blocks, instances=None, conformers: int = 0) -> dict[str, LibraryBlock]:
    """Library geometries from ``building_blocks.parquet`` (DataFrame): one representative per
    block. With ``instances`` (``block_instances.parquet`` rows, e.g. of training MOFs only) and
    ``conformers`` > 0, each block also carries up to that many other instances (conformations,
    spread over the MOFs it occurs in) for the assembly to choose from."""
    lib = {r.block_id: block_from_row(r) for r in building_blocks.itertuples()}
    if instances is not None and conformers > 0 and len(instances):
        for bid, group in instances.groupby("block_id", sort=False):
            if bid not in lib or len(group) < 2:
                continue
            firsts = group.drop_duplicates("mof_id")  # one instance per MOF
            pick = firsts.iloc[
                np.linspace(0, len(firsts) - 1, min(conformers, len(firsts))).round().astype(int)
            ]
            lib[bid].conformers = [block_from_row(r) for r in pick.itertuples()]
    return lib
