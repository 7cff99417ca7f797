"""Metal-ligand bond lengths measured on CoRE MOF, for UFF's bond terms.

UFF builds a bond's rest length from atomic radii, and for the lanthanides and alkaline earths of
UFF4MOF these are far too short for the (largely ionic) metal-oxygen bonds of MOFs: Gd-O 2.20 A
against 2.45 A in the crystal, Sr-O 2.53 A against 2.78 A. Relaxed with them, lanthanide
carboxylate frameworks shrink by 10-15% in volume and lose their pores (AQALOU, DIBXOD, MUFJED
in ``benchmarks/bench_relax.py``). The table here holds, per element pair of a metal and a
non-metal, the median length of that bond over the non-disordered CoRE MOF 2019-ASR structures
(bonds perceived as in preprocessing); :func:`override_rest_lengths` puts it into the bond
coefficients lammps-interface writes, for pairs seen often enough.

Regenerate the table (about 11 s on 2 cores, from the dataset stage's table)::

    .venv/bin/python -m mof.relax.bond_lengths results/dataset/structures.parquet
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from mof.relax.lammps_data import section_body

TABLE = Path(__file__).with_name("metal_bond_lengths.csv")


@lru_cache(maxsize=1)
def load_table(path: str | None = None) -> dict[tuple[str, str], tuple[float, int]]:
    """``{(metal, non-metal): (median length in A, number of bonds)}`` from the shipped CSV."""
    out = {}
    for line in Path(path or TABLE).read_text().splitlines()[1:]:
        metal, other, median, count = line.split(",")[:4]
        out[(metal, other)] = (float(median), int(count))
    return out


_TYPE_ELEMENT = re.compile(r"^([A-Z][a-z]?)")


def uff_element(atom_type: str) -> str:
    """The element of a UFF / UFF4MOF atom type label (``Gd8f4`` -> Gd, ``O_2`` -> O,
    ``C_R`` -> C, ``Cu4+2`` -> Cu)."""
    m = _TYPE_ELEMENT.match(atom_type)
    if not m:
        raise ValueError(f"not a UFF atom type: {atom_type!r}")
    return m.group(1)


def override_rest_lengths(
    data: str, min_count: int = 50, table: dict | None = None
) -> tuple[str, dict[str, tuple[float, float]]]:
    """Replace the rest length of every metal-non-metal harmonic bond type in a LAMMPS data file
    (lammps-interface's, with ``# type1 type2`` comments) by the CoRE MOF median of that element
    pair, where the pair was seen at least ``min_count`` times.

    Returns:
        (new data text, {"Gd-O": (old r0, new r0), ...} for the types changed).
    """
    from mof.elements import atomic_numbers, is_metal

    table = table if table is not None else load_table()
    lines = data.splitlines()
    changed: dict[str, tuple[float, float]] = {}
    for k in section_body(lines, "Bond Coeffs") or ():
        body, _, comment = lines[k].partition("#")
        tok, types = body.split(), comment.split()
        if len(tok) == 3 and len(types) == 2:
            els = [uff_element(t) for t in types]
            metal = is_metal(atomic_numbers(els))
            if metal.sum() == 1:
                m, o = (els[0], els[1]) if metal[0] else (els[1], els[0])
                hit = table.get((m, o))
                if hit is not None and hit[1] >= min_count:
                    old = float(tok[2])
                    coeffs = f"{tok[0]:>5} {float(tok[1]):15.6f} {hit[0]:15.6f}"
                    lines[k] = f"{coeffs}  # {comment.strip()}"
                    changed[f"{m}-{o}"] = (old, hit[0])
    return "\n".join(lines) + ("\n" if data.endswith("\n") else ""), changed


def measure(structures_path: str, processes: int = 2) -> dict[tuple[str, str], list[float]]:
    """Bond lengths of every metal-non-metal pair over the non-disordered structures of a
    ``structures.parquet`` (the dataset stage's table), bonds perceived as in preprocessing."""
    from multiprocessing import get_context

    from mof.dataset import crystal_from_row
    from mof.tables import read_table

    df = read_table(structures_path)
    if "disorder_flag" in df:
        df = df[~df["disorder_flag"].astype(bool)]
    crystals = (crystal_from_row(r) for _, r in df.iterrows())
    rows = [(list(c.species), c.frac, c.lattice) for c in crystals]
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    with get_context("fork").Pool(processes) as pool:
        for part in pool.imap_unordered(_one, rows, chunksize=16):
            for key, vals in part.items():
                out[key].extend(vals)
    return out


def _one(row) -> dict[tuple[str, str], list[float]]:
    from mof.bonds import find_bonds
    from mof.elements import atomic_numbers, is_metal

    species, frac, lattice = row
    z = atomic_numbers(species)
    try:
        bonds, _ = find_bonds(z, frac, lattice)
    except Exception:  # noqa: BLE001 - a structure that cannot be read adds nothing
        return {}
    metal = is_metal(z)
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for i, j, d in zip(bonds.i, bonds.j, bonds.length):
        if metal[i] != metal[j]:
            m, o = (i, j) if metal[i] else (j, i)
            out[(species[m], species[o])].append(float(d))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("structures", help="the dataset stage's structures.parquet")
    ap.add_argument("--out", default=str(TABLE))
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args(argv)
    lengths = measure(args.structures, args.processes)
    rows = ["metal,other,median_A,count,p10_A,p90_A"]
    for (m, o), v in sorted(lengths.items()):
        a = np.asarray(v)
        rows.append(
            f"{m},{o},{np.median(a):.3f},{len(a)},{np.percentile(a, 10):.3f},"
            f"{np.percentile(a, 90):.3f}"
        )
    Path(args.out).write_text("\n".join(rows) + "\n")
    print(f"{len(rows) - 1} metal-non-metal element pairs -> {args.out}")


if __name__ == "__main__":
    main()
