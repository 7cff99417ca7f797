"""All file I/O of the chemistry package: CIF reading/writing, the CoRE MOF archive, Parquet tables.

Nothing else in ``mof`` opens files; the other modules work on in-memory arrays.
"""

from __future__ import annotations

import re
import shlex
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mof.elements import element_table
from mof.periodic import lattice_from_parameters, lattice_parameters

__all__ = [
    "Crystal",
    "CifError",
    "parse_cif",
    "read_cif",
    "read_cif_text",
    "write_cif",
    "core_mof_archive",
    "core_mof_properties",
    "iter_core_mof_cifs",
    "iter_cif_folder",
    "cif_paths",
    "cif_files",
    "is_cif_name",
    "read_table",
    "write_table",
    "read_yaml",
]

CORE_MOF_DATASETS = {"2019-ASR", "2019-FSR", "2014"}


class CifError(ValueError):
    """A CIF that cannot be turned into a crystal structure.

    ``reason`` is the code the stages record: ``bad_cif`` (the default) or
    ``multiple_data_blocks`` (a file with more than one ``data_`` block: which one was meant is
    not ours to guess, so every stage rejects it).
    """

    def __init__(self, message: str, reason: str = "bad_cif"):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):
        return (type(self), (str(self), self.reason))


@dataclass
class Crystal:
    """A periodic structure.

    Attributes:
        id: structure identifier (file name without extension).
        lattice: (3, 3) row-vector lattice in Angstrom.
        species: (N,) element symbols.
        frac: (N, 3) fractional coordinates.
        occupancy: (N,) site occupancies (1.0 when the CIF gives none).
        bonds: (B, 2) atom index pairs from the CIF's ``_geom_bond`` loop, or None when it has
            none (then bonds are perceived from distances wherever they are needed).
    """

    id: str
    lattice: np.ndarray
    species: list[str]
    frac: np.ndarray
    occupancy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bonds: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.lattice = np.asarray(self.lattice, dtype=float).reshape(3, 3)
        self.frac = np.asarray(self.frac, dtype=float).reshape(-1, 3)
        if len(self.occupancy) != len(self.species):
            self.occupancy = np.ones(len(self.species))
        if len(self.species) != len(self.frac):
            raise CifError(f"{self.id}: {len(self.species)} species but {len(self.frac)} sites")

    @property
    def n_atoms(self) -> int:
        return len(self.species)

    @property
    def cart(self) -> np.ndarray:
        """(N, 3) Cartesian coordinates."""
        return self.frac @ self.lattice

    @property
    def formula(self) -> str:
        """Hill-ordered empirical formula of the cell contents (C, H first, then alphabetical)."""
        counts: dict[str, int] = {}
        for s in self.species:
            counts[s] = counts.get(s, 0) + 1
        order = [e for e in ("C", "H") if e in counts] if "C" in counts else []
        order += sorted(k for k in counts if k not in order)
        return " ".join(f"{e}{counts[e]}" for e in order)


# ----------------------------------------------------------------------------------------------
# CIF reading
# ----------------------------------------------------------------------------------------------

_ANGLES = ("alpha", "beta", "gamma")
_NUM = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:\(\d+\))?$")
_IDENTITY_OPS = {"x,y,z", "+x,+y,+z"}


def _number(token: str, what: str) -> float:
    try:
        return float(token)
    except ValueError:
        pass
    m = _NUM.match(token.strip())
    if not m:
        raise CifError(f"cannot read {what} from {token!r}")
    return float(m.group(1))


def _tokens(line: str) -> list[str]:
    if "'" not in line and '"' not in line:
        return line.split()
    try:
        return shlex.split(line, posix=True)
    except ValueError:
        return line.split()


_ELEMENT_CACHE: dict[str, str] = {}


def _element(token: str) -> str:
    sym = _ELEMENT_CACHE.get(token)
    if sym is None:
        sym = _ELEMENT_CACHE[token] = _element_uncached(token)
    return sym


def _element_uncached(token: str) -> str:
    """Element symbol from a CIF type symbol or label: "Cu", "Cu2+", "Cu1", "CU1", "cl3", "HO1".

    The rule, on the leading letters of the token:

    - first letter followed by a digit, a sign or nothing ("C12", "H3", "O"): that one letter;
    - mixed case ("Cu1", "Ho1", "Cl3"): the two-letter symbol when it is one ("Cx" is carbon);
    - one case throughout ("CU1", "ZN1", "cl3", "HO1"): the two-letter symbol, except that a
      leading H stays hydrogen unless the pair is Hf or Hg (the two H-metals of MOFs): upper-case
      labels such as HO1, HN2, HC3 name hydrogens on O, N, C, whereas CO1, CU1, CD1, NI1 are the
      metals (carbon labels are C plus digits). A holmium label must then be written "Ho1" (or
      the CIF must give ``_atom_site_type_symbol``, which is read first).
    """
    letters = re.match(r"^[A-Za-z]+", token.strip())
    if not letters:
        raise CifError(f"cannot read an element from {token!r}")
    word = letters.group(0)
    table = element_table()
    two = word[:2].capitalize()
    one = word[:1].upper()
    if len(word) >= 2 and two in table:
        one_case = word[:2].isupper() or word[:2].islower()
        if not one_case and word[1].islower():
            return two
        if one_case and not (one == "H" and two not in ("Hf", "Hg")):
            return two
    if one in table:
        return one
    raise CifError(f"unknown element {word!r}")


def _scan(text: str) -> tuple[dict[str, str], list[tuple[list[str], list[list[str]]]]]:
    """Split the first data block of a CIF into single items and loops."""
    items: dict[str, str] = {}
    loops: list[tuple[list[str], list[list[str]]]] = []
    lines = text.splitlines()
    i, n = 0, len(lines)
    seen_data = False
    while i < n:
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        low = line.lower()
        if low.startswith("data_"):
            if seen_data:
                raise CifError(
                    f"more than one data block ({line.split()[0]} after the first)",
                    reason="multiple_data_blocks",
                )
            seen_data = True
            continue
        if low == "loop_" or low.startswith("loop_ "):
            tags: list[str] = []
            while i < n and lines[i].strip().startswith("_"):
                tags.append(lines[i].strip().split()[0].lower())
                i += 1
            values: list[str] = []
            while i < n:
                s = lines[i].strip()
                low_s = s.lower()
                if s.startswith("_") or low_s.startswith("loop_") or low_s.startswith("data_"):
                    break
                i += 1
                if not s or s.startswith("#"):
                    continue
                if s.startswith(";"):  # multi-line text field inside a loop: skip it
                    while i < n and not lines[i].startswith(";"):
                        i += 1
                    i += 1
                    values.append("?")
                    continue
                values.extend(_tokens(s))
            if tags:
                k = len(tags)
                # a trailing partial row is kept so that readers can report the truncation
                rows = [values[j : j + k] for j in range(0, len(values), k)]
                loops.append((tags, rows))
            continue
        if line.startswith("_"):
            parts = line.split(None, 1)
            if len(parts) == 2:
                tok = _tokens(parts[1])
                items[parts[0].lower()] = tok[0] if tok else parts[1]
            else:
                # value on the next line(s)
                if i < n and lines[i].startswith(";"):
                    i += 1
                    buf = []
                    while i < n and not lines[i].startswith(";"):
                        buf.append(lines[i])
                        i += 1
                    i += 1
                    items[parts[0].lower()] = "\n".join(buf)
                elif i < n:
                    tok = _tokens(lines[i].strip())
                    items[parts[0].lower()] = tok[0] if tok else ""
                    i += 1
    if not seen_data:
        raise CifError("no data_ block")
    return items, loops


def _is_p1(items: dict[str, str], loops: list[tuple[list[str], list[list[str]]]]) -> bool:
    for tags, rows in loops:
        for tag in ("_symmetry_equiv_pos_as_xyz", "_space_group_symop_operation_xyz"):
            if tag in tags:
                col = tags.index(tag)
                ops = {r[col].replace(" ", "").lower() for r in rows if len(r) > col}
                return ops <= _IDENTITY_OPS
    for key in ("_symmetry_space_group_name_h-m", "_space_group_name_h-m_alt"):
        if key in items:
            return items[key].replace(" ", "").upper() == "P1"
    for key in ("_symmetry_int_tables_number", "_space_group_it_number"):
        if key in items:
            return items[key].strip() == "1"
    return True


def _parse_p1(cid: str, items: dict[str, str], loops) -> Crystal:
    try:
        params = [
            _number(items[f"_cell_{k}"], k)
            for k in (
                "length_a",
                "length_b",
                "length_c",
                "angle_alpha",
                "angle_beta",
                "angle_gamma",
            )
        ]
    except KeyError as e:
        raise CifError(f"missing cell parameter {e.args[0]}") from None
    lattice = _checked_lattice(params)
    for tags, rows in loops:
        if "_atom_site_fract_x" not in tags:
            continue
        ix, iy, iz = (tags.index(f"_atom_site_fract_{c}") for c in "xyz")
        if "_atom_site_type_symbol" in tags:
            isym = tags.index("_atom_site_type_symbol")
        elif "_atom_site_label" in tags:
            isym = tags.index("_atom_site_label")
        else:
            raise CifError("atom_site loop has neither type_symbol nor label")
        iocc = tags.index("_atom_site_occupancy") if "_atom_site_occupancy" in tags else None
        if rows and len(rows[-1]) != len(tags):
            raise CifError(
                f"atom_site loop ends in the middle of a row after {len(rows) - 1} atoms "
                "(truncated file?)"
            )
        species = [_element(r[isym]) for r in rows]
        frac = [[_number(r[ix], "x"), _number(r[iy], "y"), _number(r[iz], "z")] for r in rows]
        if iocc is None:
            occ = [1.0] * len(rows)
        else:
            occ = [1.0 if r[iocc] in ("?", ".") else _number(r[iocc], "occupancy") for r in rows]
        if not species:
            raise CifError("atom_site loop is empty")
        labels = (
            [r[tags.index("_atom_site_label")] for r in rows] if "_atom_site_label" in tags else []
        )
        bonds = _geom_bonds(loops, labels)
        return Crystal(cid, lattice, species, np.array(frac), np.array(occ), bonds)
    raise CifError("no atom_site loop with fractional coordinates")


MAX_CELL_LENGTH = 1e4  # A: no crystal structure has a longer cell edge
_CELL_KEYS = [f"_cell_length_{k}" for k in "abc"] + [f"_cell_angle_{k}" for k in _ANGLES]


def _checked_lattice(params: list[float]) -> np.ndarray:
    """The lattice of six cell parameters; a CifError naming the field when they make no cell
    (not finite, a length <= 0, an angle outside (0, 180), angles that enclose no volume)."""
    for key, v in zip(_CELL_KEYS, params):
        if not np.isfinite(v):
            raise CifError(f"{key} is {v}")
        if key.startswith("_cell_length") and not 0 < v <= MAX_CELL_LENGTH:
            raise CifError(f"{key} is {v}: a cell length must lie in (0, {MAX_CELL_LENGTH:g}] A")
        if key.startswith("_cell_angle") and not 0 < v < 180:
            raise CifError(f"{key} is {v}: a cell angle must lie strictly between 0 and 180")
    cos = np.cos(np.radians(params[3:]))
    if 1 - (cos**2).sum() + 2 * cos.prod() < 1e-8:
        names = ", ".join(f"{k}={v}" for k, v in zip(_CELL_KEYS[3:], params[3:]))
        raise CifError(f"the cell angles enclose no volume ({names})")
    lattice = lattice_from_parameters(*params)
    if not np.all(np.isfinite(lattice)):
        raise CifError(f"the cell {params} overflows")
    return lattice


def _check_crystal(cr: Crystal) -> Crystal:
    """Refuse what no stage can use: non-finite or absurd coordinates, a cell of no volume."""
    if not np.all(np.isfinite(cr.lattice)) or abs(np.linalg.det(cr.lattice)) < 1e-6:
        raise CifError("the cell has no volume (or is not finite)")
    bad = ~np.isfinite(cr.frac) | (np.abs(cr.frac) > 1e3)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise CifError(
            f"_atom_site_fract_{'xyz'[j]} of atom {i + 1} ({cr.species[i]}) is {cr.frac[i, j]}"
        )
    bad_occ = ~np.isfinite(cr.occupancy) | (cr.occupancy < 0)
    if bad_occ.any():
        i = int(np.argmax(bad_occ))
        raise CifError(f"_atom_site_occupancy of atom {i + 1} is {cr.occupancy[i]}")
    return cr


def _geom_bonds(loops, labels: list[str]) -> np.ndarray | None:
    """(B, 2) atom indices of a ``_geom_bond`` loop whose labels name atoms uniquely; None when
    there is no such loop. A bond naming an unknown label is a CifError."""
    for tags, rows in loops:
        if "_geom_bond_atom_site_label_1" not in tags:
            continue
        if len(set(labels)) != len(labels) or not labels:
            return None  # labels do not identify atoms: bonds cannot be mapped
        index = {lab: i for i, lab in enumerate(labels)}
        i1 = tags.index("_geom_bond_atom_site_label_1")
        i2 = tags.index("_geom_bond_atom_site_label_2")
        try:
            pairs = [(index[r[i1]], index[r[i2]]) for r in rows]
        except KeyError as e:
            raise CifError(f"_geom_bond names an unknown atom label {e.args[0]}") from None
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return None


def _parse_pymatgen(cid: str, text: str) -> Crystal:
    import warnings

    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            structs = CifParser.from_str(text, occupancy_tolerance=100).parse_structures(
                primitive=False
            )
        except Exception as e:  # pymatgen raises many types here
            raise CifError(f"pymatgen could not parse the CIF: {e}") from e
    if not structs:
        raise CifError("pymatgen found no structure")
    s = structs[0]
    species, occ = [], []
    for site in s:
        items = list(site.species.items())
        el, o = max(items, key=lambda t: t[1])
        species.append(el.symbol)
        occ.append(float(sum(v for _, v in items)) if len(items) == 1 else float(o))
    return Crystal(cid, s.lattice.matrix, species, s.frac_coords, np.array(occ))


def parse_cif(text: str, cid: str = "structure") -> Crystal:
    """Parse CIF text into a :class:`Crystal` (all atoms of the cell, P1).

    P1 files (all CoRE MOF ASR entries but a handful) take a fast path; files with symmetry
    operations go through pymatgen's CifParser. Raises :class:`CifError` with a reason.
    """
    if not text or not text.strip():
        raise CifError("empty file")
    if "\0" in text:
        raise CifError("binary data (NUL bytes) in the file")
    items, loops = _scan(text)
    if _is_p1(items, loops):
        return _check_crystal(_parse_p1(cid, items, loops))
    return _check_crystal(_parse_pymatgen(cid, text))


def read_cif_text(path: str | Path) -> str:
    """The text of a CIF file; a CifError when it cannot be read (missing, a dangling link, a
    folder, no permission)."""
    path = Path(path)
    try:
        return path.read_text(errors="replace")
    except OSError as e:
        raise CifError(f"cannot read {path.name}: {e.strerror or e}") from e


def read_cif(path: str | Path) -> Crystal:
    """Read one CIF file; the structure id is the file name without ``.cif``."""
    return parse_cif(read_cif_text(path), Path(path).stem)


def write_cif(path: str | Path, crystal: Crystal, bonds: np.ndarray | None = None) -> None:
    """Write a P1 CIF of ``crystal`` (lattice parameters + fractional coordinates).

    ``bonds`` (B, 2) atom index pairs are written as a ``_geom_bond`` loop (labels and the
    minimum-image distance), which CIF readers that know bonds (Mercury, VESTA, RASPA,
    lammps-interface) use and others ignore.
    """
    a, b, c, al, be, ga = lattice_parameters(crystal.lattice)
    lines = [
        f"data_{crystal.id}",
        "_symmetry_space_group_name_H-M    'P 1'",
        "_symmetry_Int_Tables_number       1",
        "loop_",
        "  _symmetry_equiv_pos_as_xyz",
        "  'x, y, z'",
        f"_cell_length_a    {a:.6f}",
        f"_cell_length_b    {b:.6f}",
        f"_cell_length_c    {c:.6f}",
        f"_cell_angle_alpha {al:.6f}",
        f"_cell_angle_beta  {be:.6f}",
        f"_cell_angle_gamma {ga:.6f}",
        "loop_",
        "  _atom_site_label",
        "  _atom_site_type_symbol",
        "  _atom_site_fract_x",
        "  _atom_site_fract_y",
        "  _atom_site_fract_z",
        "  _atom_site_occupancy",
    ]
    labels = [f"{s}{i + 1}" for i, s in enumerate(crystal.species)]
    for lab, s, f, o in zip(labels, crystal.species, crystal.frac, crystal.occupancy):
        lines.append(f"  {lab} {s} {f[0]:.8f} {f[1]:.8f} {f[2]:.8f} {o:.4f}")
    if bonds is not None and len(bonds):
        from mof.periodic import minimum_image

        b = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        _, cart = minimum_image(crystal.frac[b[:, 1]] - crystal.frac[b[:, 0]], crystal.lattice)
        dist = np.linalg.norm(cart, axis=1)
        lines += [
            "loop_",
            "  _geom_bond_atom_site_label_1",
            "  _geom_bond_atom_site_label_2",
            "  _geom_bond_distance",
        ]
        for (i, j), d in zip(b, dist):
            lines.append(f"  {labels[i]} {labels[j]} {d:.4f}")
    Path(path).write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------
# Sources of CIFs
# ----------------------------------------------------------------------------------------------


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


def is_cif_name(path: str | Path) -> bool:
    """Whether a file name ends in ``.cif``, in any letter case (``.CIF``, ``.Cif``)."""
    return Path(path).suffix.lower() == ".cif"


def cif_files(folder: str | Path) -> list[Path]:
    """Every entry of a folder named ``*.cif`` in any letter case, sorted by name. Entries that
    are not readable files (a dangling link, a folder called ``x.cif``) are listed too: readers
    turn them into a CifError, so they become rejected rows, never a dead stage.

    Raises:
        FileNotFoundError: when ``folder`` is missing; NotADirectoryError: when it is a file.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"CIF folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"CIF folder {folder} is a file, not a folder")
    return sorted(p for p in folder.iterdir() if is_cif_name(p))


def iter_cif_folder(folder: str | Path) -> Iterator[tuple[str, str | CifError]]:
    """Yield (id, CIF text) for every CIF of a folder (:func:`cif_files`), sorted by name; an
    entry that cannot be read yields its CifError in place of the text."""
    for path in cif_files(folder):
        try:
            yield path.stem, read_cif_text(path)
        except CifError as e:
            yield path.stem, e


def cif_paths(folder: str | Path) -> list[tuple[str, Path]]:
    """(id, path) of every CIF of a folder (:func:`cif_files`), sorted by name."""
    return [(path.stem, path) for path in cif_files(folder)]


# ----------------------------------------------------------------------------------------------
# Tables and config
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


def read_yaml(path: str | Path) -> dict:
    import yaml

    with open(path) as fh:
        return yaml.safe_load(fh)
