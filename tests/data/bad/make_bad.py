"""Write the corpus of bad inputs under tests/data/bad/ (run from the repository root):

    .venv/bin/python tests/data/bad/make_bad.py

Each file is one kind of hostile input, made from a small good MOF (ECEZAO01, 49 atoms, Ni).
``expected.json`` says what each stage must make of it: the relax and validate reason (the first
code), and the preprocess outcome (a reject reason, or ``excluded:<reason>`` for the dataset's
excluded table, or ``mof`` for a decomposed structure). The files are committed; rerun this
script after changing it and commit its output with it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = HERE.parent / "cifs" / "ECEZAO01_clean.cif"


def _cell(text: str, key: str, value: str) -> str:
    out = []
    for line in text.splitlines():
        if line.startswith(key):
            line = f"{key} {value}" if value is not None else None
        if line is not None:
            out.append(line)
    return "\n".join(out) + "\n"


def _atoms(text: str) -> tuple[list[str], list[str], list[str]]:
    """(lines before the first atom row, atom rows, lines after)."""
    lines = text.splitlines()
    rows = [i for i, ln in enumerate(lines) if ln[:1].isalpha() and len(ln.split()) == 8]
    return lines[: rows[0]], lines[rows[0] : rows[-1] + 1], lines[rows[-1] + 1 :]


def _join(*parts: list[str]) -> str:
    return "\n".join(line for part in parts for line in part) + "\n"


def _set_field(row: str, col: int, value: str) -> str:
    tok = row.split()
    tok[col] = value
    return "  ".join(tok)


def _replicate(text: str, reps: tuple[int, int, int]) -> str:
    head, rows, tail = _atoms(text)
    na, nb, nc = reps
    out = []
    for i in range(na):
        for j in range(nb):
            for k in range(nc):
                for r in rows:
                    t = r.split()
                    x = (float(t[2]) + i) / na
                    y = (float(t[3]) + j) / nb
                    z = (float(t[4]) + k) / nc
                    t[0] = f"{t[1]}{len(out) + 1}"
                    t[2:5] = [f"{x:.6f}", f"{y:.6f}", f"{z:.6f}"]
                    out.append("  ".join(t))
    new = _join(head, out, tail)
    for key, n in zip(("_cell_length_a", "_cell_length_b", "_cell_length_c"), reps):
        old = next(ln for ln in new.splitlines() if ln.startswith(key))
        new = new.replace(old, f"{key} {float(old.split()[1]) * n:.4f}")
    return new


def make(folder: Path = HERE) -> dict[str, dict[str, str]]:
    """Write the corpus into ``folder``; returns {file name: expected outcome per stage}."""
    good = BASE.read_text()
    head, rows, tail = _atoms(good)
    files: dict[str, str | bytes] = {}
    expect: dict[str, dict[str, str]] = {}

    def add(name, content, relax, validate=None, preprocess=None):
        files[name] = content
        expect[name] = {
            "relax": relax,
            "validate": validate or relax,
            "preprocess": preprocess or ("parse_error" if relax == "bad_cif" else relax),
        }

    add("empty.cif", "", "bad_cif")
    add("whitespace.cif", "\n   \n\t\n", "bad_cif")
    add("garbage.cif", "this is not a CIF\n{}[]\n_x_y_z 1 2 3\n", "bad_cif")
    add("truncated.cif", good[: len(good) * 2 // 3].rsplit(" ", 1)[0], "bad_cif")
    add("zero_atoms.cif", _join(head, tail), "bad_cif")
    add("unknown_element.cif", good.replace(" Ni ", " Qx ").replace("Ni", "Qx"), "bad_cif")
    add("negative_length.cif", _cell(good, "_cell_length_a", "-6.3722"), "bad_cif")
    add("zero_length.cif", _cell(good, "_cell_length_b", "0.0"), "bad_cif")
    add("huge_cell.cif", _cell(good, "_cell_length_c", "1e30"), "bad_cif")
    add("non_numeric_cell.cif", _cell(good, "_cell_length_a", "six"), "bad_cif")
    add("gamma_180.cif", _cell(good, "_cell_angle_gamma", "180.0"), "bad_cif")
    add("alpha_0.cif", _cell(good, "_cell_angle_alpha", "0"), "bad_cif")
    flat = _cell(_cell(good, "_cell_angle_alpha", "120"), "_cell_angle_beta", "120")
    add("zero_volume.cif", _cell(flat, "_cell_angle_gamma", "120"), "bad_cif")
    add("nan_cell.cif", _cell(good, "_cell_length_b", "nan"), "bad_cif")
    add("inf_cell.cif", _cell(good, "_cell_angle_beta", "inf"), "bad_cif")
    add("missing_cell.cif", _cell(good, "_cell_length_c", None), "bad_cif")
    inf_rows = [*rows[:3], _set_field(rows[3], 2, "inf"), *rows[4:]]
    add("inf_coordinate.cif", _join(head, inf_rows, tail), "bad_cif")
    nan_rows = [*rows[:5], _set_field(rows[5], 4, "nan"), *rows[6:]]
    add("nan_coordinate.cif", _join(head, nan_rows, tail), "bad_cif")
    labels_only = [ln for ln in head if not ln.startswith("_atom_site_fract")]
    short = [" ".join(r.split()[:2] + r.split()[5:]) for r in rows]
    add("missing_coordinates.cif", _join(labels_only, short, tail), "bad_cif")
    half = [_set_field(r, 7, "0.50") if i % 7 == 3 else r for i, r in enumerate(rows)]
    add("partial_occupancy.cif", _join(head, half, tail), "disorder")
    second = good.replace("data_ECEZAO01_clean", "data_second_block")
    add("two_data_blocks.cif", good + "\n" + second, "multiple_data_blocks")
    moved = rows[4].split()
    moved[2] = f"{float(rows[3].split()[2]) + 0.01:.5f}"
    moved[3:5] = rows[3].split()[3:5]
    add(
        "overlapping_atoms.cif",
        _join(head, [*rows[:4], "  ".join(moved), *rows[5:]], tail),
        "overlapping_atoms",
        preprocess="geometry_anomaly",
    )
    dup = [*rows, _set_field(rows[10], 0, "X99")]
    dup_text = _join(head, dup, tail)
    add("duplicated_atoms.cif", dup_text, "overlapping_atoms", None, "geometry_anomaly")
    add("binary_junk.cif", bytes(range(256)) * 8, "bad_cif")
    add(
        "too_many_atoms.cif",
        _replicate(good, (3, 2, 2)),
        "too_many_atoms",
        preprocess="excluded:too_many_atoms",
    )
    # a small organic crystal (methane): reads, relaxes and has no metal
    methane = [
        "C1 C 0.00000 0.00000 0.00000 0.0 Uiso 1.00",
        "H1 H 0.15000 0.15000 0.15000 0.0 Uiso 1.00",
        "H2 H -0.15000 -0.15000 0.15000 0.0 Uiso 1.00",
        "H3 H -0.15000 0.15000 -0.15000 0.0 Uiso 1.00",
        "H4 H 0.15000 -0.15000 -0.15000 0.0 Uiso 1.00",
    ]
    cubic = good
    for key in ("_cell_length_a", "_cell_length_b", "_cell_length_c"):
        cubic = _cell(cubic, key, "4.2")
    for key in ("_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma"):
        cubic = _cell(cubic, key, "90.0")
    h2, _, t2 = _atoms(cubic)
    add("no_metal.cif", _join(h2, methane, t2), "", "has_metal", "no_metal")
    add("good_upper_case.CIF", good, "", "", "periodic_component")  # a Ni rod MOF
    # entries that are not files: a folder named x.cif and a dangling link
    expect["folder.cif"] = {"relax": "bad_cif", "validate": "bad_cif", "preprocess": "parse_error"}
    expect["dangling_link.cif"] = dict(expect["folder.cif"])

    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    sub = folder / "folder.cif"
    if sub.exists() and not sub.is_symlink():
        shutil.rmtree(sub)
    sub.mkdir()
    (sub / "README").write_text("a folder named like a CIF\n")
    link = folder / "dangling_link.cif"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink("does_not_exist.cif", link)
    (folder / "expected.json").write_text(json.dumps(expect, indent=1, sort_keys=True) + "\n")
    return expect


if __name__ == "__main__":
    print(f"{len(make())} bad inputs written to {HERE}")
