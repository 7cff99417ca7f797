"""Regenerate the crafted fixtures in tests/data/cifs from the real CoRE MOF ones beside them.

    broken_truncated.cif   HKUST-1 (FIQCEN) cut in the middle of an atom row
    nometal_mof5.cif       MOF-5 (EDUSIF) with every Zn removed
    solvent_hkust1.cif     HKUST-1 with one water molecule in its largest pore

Also writes tests/data/properties.csv: the CoRE MOF 2019-ASR CSV rows of the real fixtures, and
tests/data/relax/DIBXOD_clean.cif, the CoRE MOF 2019-ASR entry as shipped (a Zn MOF whose
three-membered metal rings make lammps-interface write i-j-k-i dihedrals; tests/mof/test_relax.py),
and tests/data/relax/FIGXAU_clean.cif (erbium formate: a whole framework of 13 atoms, fewer than
the 25 that lammps-interface takes for a molecule).
Run: .venv/bin/python tests/data/make_fixtures.py
"""

from pathlib import Path

import numpy as np

from mof.coremof import core_mof_properties, iter_core_mof_cifs
from mof.crystal import Crystal
from mof.io import read_cif, write_cif
from mof.periodic import minimum_image

HERE = Path(__file__).parent
CIFS = HERE / "cifs"


def emptiest_point(cr: Crystal, n: int = 12) -> np.ndarray:
    g = (np.stack(np.meshgrid(*[np.arange(n) / n] * 3, indexing="ij"), -1)).reshape(-1, 3)
    best, best_d = None, -1.0
    for p in g:
        _, cart = minimum_image(cr.frac - p, cr.lattice)
        d = np.linalg.norm(cart, axis=1).min()
        if d > best_d:
            best, best_d = p, d
    return best


def main() -> None:
    text = (CIFS / "FIQCEN_clean.cif").read_text().splitlines()
    first_atom = next(i for i, line in enumerate(text) if line.strip().startswith("Cu"))
    cut = text[: first_atom + 40]
    cut.append(text[first_atom + 40][:18])
    (CIFS / "broken_truncated.cif").write_text("\n".join(cut) + "\n")

    mof5 = read_cif(CIFS / "EDUSIF_clean.cif")
    keep = [i for i, s in enumerate(mof5.species) if s != "Zn"]
    write_cif(
        CIFS / "nometal_mof5.cif",
        Crystal("nometal_mof5", mof5.lattice, [mof5.species[i] for i in keep], mof5.frac[keep]),
    )

    hk = read_cif(CIFS / "FIQCEN_clean.cif")
    p = emptiest_point(hk)
    o = p @ hk.lattice
    h1 = o + np.array([0.9572, 0.0, 0.0])
    h2 = o + 0.9572 * np.array([np.cos(np.radians(104.5)), np.sin(np.radians(104.5)), 0.0])
    water = np.linalg.solve(hk.lattice.T, np.stack([o, h1, h2]).T).T
    write_cif(
        CIFS / "solvent_hkust1.cif",
        Crystal(
            "solvent_hkust1", hk.lattice, hk.species + ["O", "H", "H"], np.vstack([hk.frac, water])
        ),
    )

    (HERE / "relax").mkdir(exist_ok=True)
    for cid, text in iter_core_mof_cifs("2019-ASR", {"DIBXOD_clean", "FIGXAU_clean"}):
        (HERE / "relax" / f"{cid}.cif").write_text(text)

    props = core_mof_properties("2019-ASR")
    real = sorted(p.stem for p in CIFS.glob("*.cif"))
    rows = props.loc[[r for r in real if r in props.index]]
    rows.to_csv(HERE / "properties.csv", index_label="filename")


if __name__ == "__main__":
    main()
