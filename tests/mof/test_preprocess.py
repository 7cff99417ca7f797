import numpy as np
import pytest

from mof.dataset import DatasetConfig, select_dataset
from mof.decompose import DecomposeParams
from mof.preprocess import decompose_all, summary_line, tables
from mof.tables import column_array, from_cell
from tests.conftest import DATA


@pytest.fixture(scope="module")
def fixture_tables():
    cfg = DatasetConfig(
        source="folder",
        folder=str(DATA / "cifs"),
        properties_csv=str(DATA / "properties.csv"),
        sample_size=None,
        drop_disordered=False,
    )
    structures, _ = select_dataset(cfg, progress=False)
    decs, rejects = decompose_all(structures, DecomposeParams(), processes=2, progress=False)
    return structures, decs, rejects, tables(decs, structures)


def test_bad_inputs_are_rejected_and_the_rest_is_processed(fixture_tables):
    structures, decs, rejects, _ = fixture_tables
    reasons = dict(zip(rejects["id"], rejects["reason"]))
    assert reasons == {
        "broken_truncated": "parse_error",
        "nometal_mof5": "no_metal",
        "solvent_hkust1": "isolated_molecule",
        "ECEZAO01_clean": "periodic_component",
    }
    assert all(rejects["detail"].str.len() > 0)
    assert len(decs) + len(rejects) == len(structures)
    assert {d.id for d in decs} == {
        "ABAVIJ_clean",
        "EDUSIF_clean",
        "FIQCEN_clean",
        "KAXQIL_clean",
        "OFERUN_clean",
        "VEHJUP_clean",
        "ja406030p_si_002_manual",
    }


def test_tables_are_consistent(fixture_tables):
    structures, decs, rejects, (mofs, inst, bb) = fixture_tables
    assert len(mofs) == len(decs)
    assert (mofs["n_blocks"] == mofs["block_ids"].apply(len)).all()
    assert (mofs["centres_frac"].apply(len) == 3 * mofs["n_blocks"]).all()
    assert (mofs["sigmas"].apply(len) == 9 * mofs["n_blocks"]).all()
    assert len(inst) == mofs["n_blocks"].sum()
    assert bb["count"].sum() == len(inst)
    assert set(bb["block_id"]) == set(inst["block_id"])
    hk = mofs.set_index("id").loc["FIQCEN_clean"]
    assert hk["n_nodes"] == 6 and hk["n_linkers"] == 8
    assert hk["lcd"] == pytest.approx(13.2, abs=0.3)
    for s in mofs["sigmas"]:
        sig = from_cell(s, (-1, 3, 3))
        assert np.linalg.eigvalsh(sig).min() > 0


def test_instances_rebuild_atoms(fixture_tables):
    structures, _, _, (mofs, inst, _) = fixture_tables
    row = structures.set_index("id").loc["EDUSIF_clean"]
    lat = column_array(row, "lattice")
    frac = column_array(row, "frac_coords")
    for _, b in inst[inst["mof_id"] == "EDUSIF_clean"].iterrows():
        cart = (
            column_array(b, "centre_frac") @ lat
            + column_array(b, "local_coords") @ column_array(b, "rotation").T
        )
        f = np.linalg.solve(lat.T, cart.T).T
        d = f - frac[np.asarray(b["atom_indices"])]
        np.testing.assert_allclose(d - np.round(d), 0, atol=1e-6)


def test_summary_line(fixture_tables):
    structures, decs, rejects, (_, _, bb) = fixture_tables
    line = summary_line(len(structures), decs, rejects, len(bb))
    assert line.startswith("[preprocess] 11 in -> 7 decomposed, 4 rejected")
    assert "parse_error 1" in line and "no_metal 1" in line


def test_representative_geometry_comes_from_a_training_mof(fixture_tables):
    """A block seen in a held-out MOF first and in a training MOF later takes its library
    geometry (example_mof) from the training one: held-out structures stay out of the library."""
    import copy

    structures, decs, _, _ = fixture_tables
    first = decs[0]
    twin = copy.copy(first)
    twin.id = first.id + "_train_twin"
    rows = structures.set_index("id").loc[[first.id]].reset_index()
    rows.loc[:, "split"] = "val"
    twin_row = rows.copy()
    twin_row.loc[:, "id"] = twin.id
    twin_row.loc[:, "split"] = "train"
    import pandas as pd

    _, inst, bb = tables([first, twin], pd.concat([rows, twin_row], ignore_index=True))
    assert set(inst["split"]) == {"val", "train"}
    assert len(bb) and (bb["example_mof"] == twin.id).all()


def test_the_tables_have_the_columns_mof_tables_lists(fixture_tables):
    from mof import tables as schema
    from mof.preprocess import CARRIED_PROPERTIES

    structures, _, rejects, (mofs, inst, bb) = fixture_tables
    assert list(structures.columns) == schema.STRUCTURES
    assert list(mofs.columns) == schema.MOFS + CARRIED_PROPERTIES
    assert list(inst.columns) == schema.BLOCK_INSTANCES
    assert list(bb.columns) == schema.BUILDING_BLOCKS
    assert list(rejects.columns) == schema.REJECTS
    # every array column reads back with its shape
    for row in (mofs.iloc[0], inst.iloc[0], bb.iloc[0], structures.iloc[0]):
        for col in set(row.index) & set(schema.CELL_SHAPES):
            arr = schema.column_array(row, col)
            assert arr.size == len(row[col])
