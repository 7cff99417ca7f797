"""Reading and writing CIFs (single files and folders of them) and the YAML config. The Parquet
tables are read and written by :mod:`mof.tables`, the CoRE MOF archive by :mod:`mof.coremof`.

:class:`~mof.crystal.Crystal` and :class:`~mof.cifcheck.CifError` are re-exported from their
modules. Engine scratch files (LAMMPS, zeo++), per-structure results (:mod:`mof.resume`), logs
and the report's files are written by the modules that own them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mof.cifcheck import CifError, check_crystal, checked_lattice
from mof.crystal import Crystal
from mof.elements import element_table
from mof.periodic import lattice_parameters

__all__ = [
    "Crystal",
    "CifError",
    "parse_cif",
    "read_cif",
    "read_cif_text",
    "write_cif",
    "iter_cif_folder",
    "cif_paths",
    "cif_files",
    "is_cif_name",
    "read_yaml",
]

# ----------------------------------------------------------------------------------------------
# CIF reading
# ----------------------------------------------------------------------------------------------

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
    lattice = checked_lattice(params)
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
        return check_crystal(_parse_p1(cid, items, loops))
    return check_crystal(_parse_pymatgen(cid, text))


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
# Folders of CIFs (the CoRE MOF archive: mof.coremof)
# ----------------------------------------------------------------------------------------------


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
# Config
# ----------------------------------------------------------------------------------------------


def read_yaml(path: str | Path) -> dict:
    """The contents of a YAML file."""
    import yaml

    with open(path) as fh:
        return yaml.safe_load(fh)
