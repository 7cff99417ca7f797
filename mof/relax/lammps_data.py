"""Text filters of the files lammps-interface writes for LAMMPS, and the LAMMPS box.

* :func:`drop_repeated_atom_terms`: LAMMPS rejects bonded terms that name one atom twice (the
  i-j-k-i dihedrals lammps-interface writes around three-membered metal rings); they are removed
  from the data file, the counts renumbered.
* :func:`setup_lines`: the force-field part of lammps-interface's input file.
* :func:`box_lattice`: the row-vector lattice of a LAMMPS triclinic box.
"""

from __future__ import annotations

import numpy as np


def drop_repeated_atom_terms(data: str) -> tuple[str, dict[str, int]]:
    """Remove the bonded terms of a LAMMPS data file that name one atom twice.

    lammps-interface writes dihedrals i-j-k-i around three-membered rings (metal clusters); LAMMPS
    stops on them. Terms are renumbered and the header counts updated; a section left empty is
    removed together with its header count.

    Returns:
        (new data text, {section: number of terms dropped}).
    """
    sections = {"Bonds": 2, "Angles": 3, "Dihedrals": 4, "Impropers": 4}
    header_key = {s: s.lower() for s in sections}
    lines = data.splitlines()
    out: list[str] = []
    dropped: dict[str, int] = {}
    kept_count: dict[str, int] = {}
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if name in sections:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            body = []
            while j < len(lines) and lines[j].strip() and not lines[j].strip()[0].isalpha():
                body.append(lines[j])
                j += 1
            kept = []
            for row in body:
                tok = row.split("#")[0].split()
                if not tok:  # a comment line inside the section
                    continue
                atoms = tok[2 : 2 + sections[name]]
                if len(set(atoms)) == len(atoms):
                    kept.append(tok)
            dropped[name] = sum(1 for row in body if row.split("#")[0].split()) - len(kept)
            kept_count[name] = len(kept)
            if kept:
                out += [name, ""]
                out += [" ".join([str(k + 1), *t[1:]]) for k, t in enumerate(kept)]
                out.append("")
            i = j
            continue
        out.append(lines[i])
        i += 1
    text = "\n".join(out) + "\n"
    for name, count in kept_count.items():
        if dropped[name] == 0:
            continue
        key = header_key[name]
        new = []
        for line in text.splitlines():
            tok = line.split()
            if len(tok) == 2 and tok[1] == key and tok[0].isdigit():
                if count == 0:
                    continue
                line = f"{count:12d} {key}"
            new.append(line)
        text = "\n".join(new) + "\n"
        if count == 0:  # no terms left: drop the type count and the coefficients as well
            text = _drop_style(text, name)
    return text, {k: v for k, v in dropped.items() if v}


def _drop_style(text: str, section: str) -> str:
    kind = {"Bonds": "bond", "Angles": "angle", "Dihedrals": "dihedral", "Impropers": "improper"}[
        section
    ]
    lines = text.splitlines()
    body = section_body(lines, f"{kind.capitalize()} Coeffs")
    skip = set(range(body.start - 1, body.stop)) if body is not None else set()
    out = [
        line
        for i, line in enumerate(lines)
        if i not in skip and line.split()[1:] != [kind, "types"]
    ]
    return "\n".join(out) + "\n"


def section_body(lines: list[str], name: str) -> range | None:
    """Indices of the rows of section ``name`` (e.g. ``Bond Coeffs``) of a LAMMPS data file
    split into lines, from its header to its last numeric row (blank lines after the header
    included); None when the file has no such section."""
    try:
        head = next(k for k, line in enumerate(lines) if line.strip() == name)
    except StopIteration:
        return None
    k = head + 1
    while k < len(lines) and not lines[k].strip():
        k += 1
    while k < len(lines) and lines[k].strip() and not lines[k].strip()[0].isalpha():
        k += 1
    return range(head + 1, k)


def box_lattice(box: dict) -> np.ndarray:
    """(3, 3) row-vector lattice of a LAMMPS triclinic box ``{lx, ly, lz, xy, xz, yz}``."""
    return np.array(
        [
            [box["lx"], 0.0, 0.0],
            [box["xy"], box["ly"], 0.0],
            [box["xz"], box["yz"], box["lz"]],
        ]
    )


def setup_lines(inp: str, data_path: str) -> list[str]:
    """The force-field part of lammps-interface's input file (everything before its run part)."""
    lines = []
    for line in inp.splitlines():
        if line.startswith("#### Atom Groupings"):
            break
        tok = line.split()
        if not tok or tok[0].startswith("#") or tok[0] == "log":
            continue
        if tok[0] == "read_data":
            line = f"read_data {data_path}"
        lines.append(line)
    return lines
