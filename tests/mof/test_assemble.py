"""Assembly: oracle recovery of real MOFs from their coarse description, failures as rows."""

import warnings

import numpy as np
import pandas as pd
import pytest

from mof.assemble import AssemblyParams, assemble, assemble_table, load_library
from mof.io import read_cif

RECOVERABLE = ["EDUSIF_clean", "FIQCEN_clean", "KAXQIL_clean", "VEHJUP_clean"]


def _structure(lattice, species, frac):
    from pymatgen.core import Structure

    return Structure(lattice, species, frac)


@pytest.fixture(scope="module")
def library(fixture_tables):
    return load_library(fixture_tables[3])


def _oracle(row, library, **kw):
    lat = np.reshape(row["lattice"], (3, 3))
    return assemble(
        lat,
        np.reshape(row["centres_frac"], (-1, 3)),
        np.reshape(row["sigmas"], (-1, 3, 3)),
        [library[b] for b in row["block_ids"]],
        AssemblyParams(**kw),
        structure_id=row["id"],
    )


@pytest.mark.parametrize("name", RECOVERABLE)
def test_oracle_assembly_recovers_the_structure(fixture_tables, library, name):
    from pymatgen.analysis.structure_matcher import StructureMatcher

    structures, mofs, _, _ = fixture_tables
    row = mofs.set_index("id").loc[name].to_dict()
    row["id"] = name
    res = _oracle(row, library)
    assert res.status == "assembled", res.detail
    assert res.mismatch_max < 0.5
    orig = structures.set_index("id").loc[name]
    lat = np.reshape(orig["lattice"], (3, 3))
    a = _structure(lat, list(orig["species"]), np.reshape(orig["frac_coords"], (-1, 3)))
    b = _structure(lat, res.crystal.species, res.crystal.frac)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert StructureMatcher().fit(a, b)
    # every connection point became exactly one bond across blocks
    assert res.n_cp_node == res.n_cp_linker


def test_sigma_orientation_beats_random(fixture_tables, library):
    _, mofs, _, _ = fixture_tables
    sig, rnd = [], []
    for _, r in mofs.iterrows():
        row = {**r.to_dict()}
        sig.append(_oracle(row, library).mismatch_mean)
        rnd.append(_oracle(row, library, sigma_init=False).mismatch_mean)
    assert np.mean(sig) < 0.5 * np.mean(rnd)


def test_table_records_failures_and_writes_readable_cifs(tmp_path, fixture_tables, library):
    _, mofs, _, _ = fixture_tables
    good = mofs.set_index("id").loc["EDUSIF_clean"]
    rows = [
        {
            "sample_id": "ok",
            "n_blocks": good["n_blocks"],
            "lattice": good["lattice"],
            "centres_frac": good["centres_frac"],
            "sigmas": good["sigmas"],
            "block_ids": good["block_ids"],
        },
        {
            "sample_id": "unknown",
            "n_blocks": 2,
            "lattice": good["lattice"],
            "centres_frac": [0.1] * 6,
            "sigmas": list(np.eye(3).reshape(-1)) * 2,
            "block_ids": ["Lnot_a_block", "Nnot_a_block"],
        },
        # one linker fewer: connection points cannot balance
        {
            "sample_id": "unbalanced",
            "n_blocks": good["n_blocks"] - 1,
            "lattice": good["lattice"],
            "centres_frac": good["centres_frac"][:-3],
            "sigmas": good["sigmas"][:-9],
            "block_ids": good["block_ids"][:-1],
        },
    ]
    table = assemble_table(
        pd.DataFrame(rows), library, AssemblyParams(), tmp_path, processes=1, progress=False
    ).set_index("sample_id")
    assert table.loc["ok", "status"] == "assembled"
    assert table.loc["unknown", "status"] == "failed"
    assert table.loc["unknown", "reason"] == "unknown_block"
    assert table.loc["unbalanced", "status"] == "partial"
    assert "unbalanced_connections" in table.loc["unbalanced", "reason"]
    cr = read_cif(tmp_path / table.loc["ok", "cif"])
    assert cr.n_atoms == table.loc["ok", "n_atoms"]
    text = (tmp_path / table.loc["ok", "cif"]).read_text()
    assert "_geom_bond_atom_site_label_1" in text
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Structure.from_file(tmp_path / table.loc["ok", "cif"])
    assert len(s) == cr.n_atoms


def test_library_carries_conformers_from_several_mofs(fixture_tables):
    _, _, inst, bb = fixture_tables
    lib = load_library(bb, inst, conformers=8)
    btc = inst[(inst["mof_id"] == "FIQCEN_clean") & (inst["kind"] == "linker")]["block_id"].iloc[0]
    confs = lib[btc].conformers
    assert len(confs) == 2  # one per MOF that holds BTC: HKUST-1 and VEHJUP
    assert all(len(c.z) == len(lib[btc].z) for c in confs)
    assert all(len(b.conformers) == 0 for b in load_library(bb).values())
