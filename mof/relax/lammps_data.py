"""Text filters of the files lammps-interface writes for LAMMPS, and the LAMMPS box.

* :func:`drop_repeated_atom_terms`: LAMMPS rejects bonded terms that name one atom twice (the
  i-j-k-i dihedrals lammps-interface writes around three-membered metal rings); they are removed
  from the data file, the counts renumbered.
* :func:`setup_lines`: the force-field part of lammps-interface's input file.
* :func:`contact_wall_lines`: a repulsive wall for unbonded pairs, 1-3 pairs included
  (:func:`type_elements`: the element of each atom type).
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


def command_args(inp: str, name: str) -> list[str]:
    """The arguments of the first ``name`` command of a LAMMPS input text."""
    for line in inp.splitlines():
        tok = line.split("#")[0].split()
        if tok[:1] == [name]:
            return tok[1:]
    raise ValueError(f"the LAMMPS input has no {name} command")


def uff_special(inp: str, repel_13: bool = False) -> str:
    """The ``pair_modify`` command that gives the force field's sub-style (under
    :func:`contact_wall_lines`) its own special-bond weights: those of ``inp``'s
    ``special_bonds``, or with ``repel_13`` 1-3 pairs in full (the soft start).

    LAMMPS wants a sub-style's weight to be 0 exactly where the global one is, and the global
    1-3 weight is not 0 under the wall, so UFF's 1-3 weight of 0 becomes 1e-20: beyond 1 A no
    pair of UFF atoms then has 1e-11 kcal/mol of 1-3 energy."""
    w = command_args(inp, "special_bonds")[1:4]
    w13 = "1.0" if repel_13 else (w[1] if float(w[1]) != 0 else "1e-20")
    return f"pair_modify pair lj/cut special lj {w[0]} {w13} {w[2]}"


def type_elements(data: str) -> dict[int, str]:
    """{atom type: element} of a lammps-interface data file, from the UFF type names its
    ``Masses`` rows carry as comments (``6 140.9 # Pr8f4`` -> Pr)."""
    from mof.relax.bond_lengths import uff_element

    lines = data.splitlines()
    body = section_body(lines, "Masses")
    out = {}
    for k in body or ():
        row, _, name = lines[k].partition("#")
        if row.split():
            if not name.split():
                raise ValueError(f"Masses row without a type name: {lines[k]!r}")
            out[int(row.split()[0])] = uff_element(name.split()[0])
    return out


def contact_wall_lines(data: str, inp: str, scale: float, epsilon: float = 10.0) -> list[str]:
    """LAMMPS commands (after ``read_data``) that add a purely repulsive wall between every two
    atoms that are not bonded, 1-3 pairs included, on top of the force field's Lennard-Jones.

    The wall between elements a and b is the 12-6 potential cut at its minimum, the reach
    ``scale * (r_a + r_b)`` (covalent radii, :func:`mof.elements.covalent_radii`), and shifted
    to zero there (WCA; LAMMPS ``lj/smooth/linear``, whose force and energy both vanish at the
    cutoff), with depth ``epsilon`` (kcal/mol). UFF leaves 1-3 pairs (two atoms bonded to one
    centre) without pair repulsion, and the cosine/periodic angle terms of octahedral and
    square-planar centres have a minimum at 0 degrees too, so a strained structure can fold two
    such atoms onto each other (O-M-O), or two metals bridged by one atom (M-O-M). MOFChecker
    calls two atoms overlapping below the smaller covalent radius, at most half the sum. In a
    real framework unbonded atoms are further apart than the sum (the bond perception's
    criterion), so a ``scale`` below 1 leaves the force field's energy there as it was.
    The wall weighs 1-3 and 1-4 pairs in full (LAMMPS's ``lj/smooth/linear`` leaves fractional
    special weights out of its energy, though not out of its forces).

    The force field keeps its ``pair_style lj/cut``, coefficients (the data file's ``Pair
    Coeffs``, each pair of types written out with the input's mixing rule: ``hybrid/overlay``
    mixes only types that one sub-style alone covers), tail correction and special-bond weights
    (:func:`uff_special`).
    """
    from mof.elements import atomic_numbers, covalent_radii

    style = command_args(inp, "pair_style")
    if style[0] != "lj/cut":
        raise ValueError(f"the contact wall needs pair_style lj/cut, not {style[0]}")
    modify = command_args(inp, "pair_modify")
    mix = modify[modify.index("mix") + 1] if "mix" in modify else "geometric"
    if mix not in ("arithmetic", "geometric"):
        raise ValueError(
            f"the contact wall knows the mixing rules arithmetic and geometric, not {mix}"
        )
    tail = modify[modify.index("tail") + 1] if "tail" in modify else "no"
    w14 = command_args(inp, "special_bonds")[3]
    lines = data.splitlines()
    body = section_body(lines, "Pair Coeffs")
    if body is None:
        raise ValueError("the data file has no Pair Coeffs")
    own = [lines[k].split("#")[0].split() for k in body]
    own = [(int(t[0]), float(t[1]), float(t[2])) for t in own if t]
    elements = type_elements(data)
    radius = dict(zip(elements, covalent_radii(atomic_numbers(list(elements.values())))))
    reach = {(i, j): scale * (radius[i] + radius[j]) for i in elements for j in elements if i <= j}
    out = [
        f"pair_style hybrid/overlay lj/cut {style[1]} lj/smooth/linear {max(reach.values()):.6f}",
        f"pair_modify tail {tail}",
    ]
    for a, (i, e_i, s_i) in enumerate(own):
        for j, e_j, s_j in own[a:]:
            sig = (s_i + s_j) / 2 if mix == "arithmetic" else np.sqrt(s_i * s_j)
            out.append(f"pair_coeff {i} {j} lj/cut {np.sqrt(e_i * e_j):.10g} {sig:.10g}")
    for (i, j), cut in sorted(reach.items()):
        sig = cut / 2 ** (1 / 6)
        out.append(f"pair_coeff {i} {j} lj/smooth/linear {epsilon} {sig:.10g} {cut:.10g}")
    out += [
        # a 1-3 weight of 0 would drop those pairs from the neighbour list: 0.5 keeps them, and
        # each sub-style weighs them (the wall in full, the force field as before)
        f"special_bonds lj/coul 0.0 0.5 {w14}",
        uff_special(inp),
        f"pair_modify pair lj/smooth/linear special lj 0.0 1.0 {'1.0' if float(w14) else '0.0'}",
    ]
    return out
