"""Report: the funnel, relaxation and check tables, the stage's settings."""

import shutil

import pandas as pd

from mof.report import build_report
from mof.validate import CHECK_COLUMNS


def _report_inputs(tmp_path, fixture_tables, cif_dir):
    structures, mofs, _, _ = fixture_tables
    cdir = tmp_path / "cif"
    cdir.mkdir()
    shutil.copy(cif_dir / "EDUSIF_clean.cif", cdir / "s1.cif")
    shutil.copy(cif_dir / "FIQCEN_clean.cif", cdir / "s2.cif")
    hk = mofs.set_index("id").loc["FIQCEN_clean"]
    coarse = pd.DataFrame(
        {
            "sample_id": ["s1", "s2", "s3", "s4"],
            "block_ids": [["x", "y"], list(hk["block_ids"]), ["z"], ["x", "z"]],
        }
    )
    # s2 reached relaxation through the bonded hand-off; s3 was balanced but failed; s4 did not
    # balance
    assembled = pd.DataFrame(
        {
            "sample_id": ["s1", "s2", "s3", "s4"],
            "status": ["assembled", "bonded", "failed", "failed"],
            "n_cp_node": [4, 48, 2, 3],
            "n_cp_linker": [4, 48, 2, 5],
            "cif": ["s1.cif", "s2.cif", None, None],
        }
    )
    relaxed = pd.DataFrame(
        {
            "sample_id": ["s1", "s2"],
            "status": ["relaxed", "topology_changed"],
            "reason": ["", "topology_changed"],
            "energy_initial": [4.2, 4.7],
            "energy_final": [1.4, 2.2],
            "volume_change": [0.07, 0.08],
            "seconds": [1.7, 3.3],
            "cif": ["s1.cif", "s2.cif"],
        }
    )
    val = pd.DataFrame(
        {
            "sample_id": ["s1", "s2"],
            "valid": [True, True],
            "ok_pld": [True, True],
            "lcd": [15.0, 13.2],
            "pld": [7.9, 6.7],
            "asa_m2_g": [3600.0, 2160.0],
            "void_fraction": [0.8, 0.72],
            "density": [0.59, 0.88],
            "contact_ratio": [0.86, 0.55],
            "ok_contacts": [True, False],
        }
    )
    for c in CHECK_COLUMNS:
        val[c] = True
    return coarse, assembled, relaxed, val, structures, mofs, cdir


def test_build_report_writes_the_tables(tmp_path, fixture_tables, cif_dir):
    inputs = _report_inputs(tmp_path, fixture_tables, cif_dir)
    res = build_report(*inputs, "t", tmp_path / "rep", min_pld=2.4)
    # s2 is HKUST-1, a training MOF (same key, matching structure): valid, not novel; its
    # relaxation changed the bond graph, so it counts as valid by MOFDiff's definition only
    assert res == {
        "sampled": 4,
        "balanced": 3,
        "assembled": 1,
        "bonded": 2,
        "relaxation_finished": 2,
        "relaxed": 1,
        "valid": 2,
        "novel": 1,
        "vnu": 1,
        "valid_strict": 1,
        "vnu_strict": 1,
        "valid_contacts": 1,
    }
    text = (tmp_path / "rep" / "tables.md").read_text()
    assert "MOFDiff" in text and "StructureMatcher" in text and "| valid | 2 |" in text
    assert "## Geometry of the samples\n\nNot recorded in this run's tables." in text
    # samples s1-s4 hold 2, 2 (HKUST-1: a paddlewheel and a trimesate), 1 and 2 distinct blocks
    assert (
        "## Composition of the samples\n\nDistinct building blocks per sample: median 2 (p90 2)"
        in text
    )
    funnel = pd.read_csv(tmp_path / "rep" / "funnel.csv")
    assert list(funnel["stage"]) == [
        "sampled",
        "balanced",
        "assembled (strict)",
        "assembled or bonded",
        "relaxation finished",
        "relaxed (strict)",
        "valid",
        "valid, no close contacts",
        "valid + novel",
        "valid + novel + unique",
        "valid (strict)",
        "valid + novel + unique (strict)",
    ]
    f = funnel.set_index("stage")
    assert "MOFDiff" in f.loc["valid", "meaning"]
    assert f.loc["relaxation finished", "count"] == 2 and f.loc["relaxed (strict)", "count"] == 1
    assert f.loc["valid (strict)", "count"] == 1
    assert f.loc["valid, no close contacts", "count"] == 1
    checks = pd.read_csv(tmp_path / "rep" / "checks.csv").set_index("check")
    assert checks.loc["close contacts (not part of valid)", "failed"] == 1
    relax = pd.read_csv(tmp_path / "rep" / "relax.csv")
    assert relax.loc[0, "outcome"] == "relaxed" and relax.loc[0, "count"] == 1
    assert relax.loc[1, "outcome"] == "topology_changed" and relax.loc[1, "count"] == 1
    assert (tmp_path / "rep" / "properties.png").read_bytes()[:4] == b"\x89PNG"


def test_report_names_the_configured_pld_threshold(tmp_path, fixture_tables, cif_dir):
    """validate.min_pld is configurable: the tables state the threshold the run used."""
    inputs = _report_inputs(tmp_path, fixture_tables, cif_dir)
    build_report(*inputs, "t", tmp_path / "rep", min_pld=3.5)
    checks = pd.read_csv(tmp_path / "rep" / "checks.csv")
    assert "pld>=3.5" in set(checks["check"]) and "pld>=2.4" not in set(checks["check"])
    text = " ".join((tmp_path / "rep" / "tables.md").read_text().split())
    assert "at least 3.5 A" in text and "2.4 A" not in text


def test_report_stage_takes_the_pld_threshold_from_its_config(tmp_path, fixture_tables, cif_dir):
    """The report rule's cfg is the validate section (so a change of min_pld reruns it) and its
    stage entry point applies that section's min_pld."""
    from mof.report import run
    from mof.tables import write_table
    from tests.conftest import REPO

    rule = (REPO / "rules" / "report.smk").read_text()
    assert 'cfg=config["validate"]' in rule
    names = ["coarse", "assembled", "relaxed", "validation", "structures", "mofs"]
    *tables, cdir = _report_inputs(tmp_path, fixture_tables, cif_dir)
    inputs = {"cifs": str(cdir)}
    for name, df in zip(names, tables):
        inputs[name] = str(tmp_path / f"{name}.parquet")
        write_table(df, inputs[name])
    out = {"tables": str(tmp_path / "rep" / "tables.md")}
    run(inputs, out, {"min_pld": 3.5}, say=lambda m: None, run_name="t")
    checks = pd.read_csv(tmp_path / "rep" / "checks.csv")
    assert "pld>=3.5" in set(checks["check"]) and "pld>=2.4" not in set(checks["check"])


def test_sample_geometry_against_independent_figures():
    """The shift is the median of the samples' own figures; a second uniform draw in a cubic
    10 A cell lies sqrt(3 x 10^2 / 12) = 5 A (RMS) from the first (Monte Carlo against the
    analytic value); the repair covers only built structures."""
    import numpy as np

    from mof.report import geometry_text, sample_geometry

    rng = np.random.default_rng(3)
    lattice = (10.0 * np.eye(3)).ravel().tolist()
    coarse = pd.DataFrame(
        {
            "sampler_shift": [1.0, 2.0, 3.0, 4.0],
            "lattice": [lattice] * 4,
            "initial_centres_frac": [rng.random(3 * 400).tolist() for _ in range(4)],
        }
    )
    assembled = pd.DataFrame(
        {"repair_rms": [1.0, 3.0, 9.0, None], "cif": ["a.cif", "b.cif", None, None]}
    )
    g = sample_geometry(coarse, assembled)
    assert g["shift"] == 2.5 and g["built"] == 2
    assert abs(g["redraw"] - 5.0) < 0.25
    assert g["repair"] == 2.0 and abs(g["repair_p90"] - 2.8) < 1e-9
    text = geometry_text(g)
    assert "2.50 A" in text and "2.00 A" in text and "2 built structures" in text
    # tables from before the sampler recorded its start: the figure is said to be missing
    empty = sample_geometry(pd.DataFrame({"sample_id": ["s"]}), pd.DataFrame())
    assert empty["shift"] is None and empty["repair"] is None
    assert geometry_text(empty) == "Not recorded in this run's tables."


def test_sample_geometry_of_scaled_cells():
    """Cells the sampler scaled are counted by direction, and the second draw is measured in the
    cell the network drew (10 A: 5 A RMS), not in the scaled one."""
    import numpy as np

    from mof.report import geometry_text, sample_geometry

    rng = np.random.default_rng(4)
    scale = [1.0, 2.0, 0.5, 1.0]
    coarse = pd.DataFrame(
        {
            "sampler_shift": [1.0] * 4,
            "cell_scale": scale,
            "lattice": [(10.0 * s * np.eye(3)).ravel().tolist() for s in scale],
            "initial_centres_frac": [rng.random(3 * 400).tolist() for _ in range(4)],
        }
    )
    g = sample_geometry(coarse, pd.DataFrame())
    assert abs(g["redraw"] - 5.0) < 0.25
    assert (g["enlarged"], g["shrunk"]) == (1, 1)
    assert (g["enlarged_scale"], g["shrunk_scale"]) == (2.0, 0.5)
    text = geometry_text(g)
    assert "1 enlarged (median length scale 2.00), 1 shrunk (median length scale 0.50)" in text
    same = coarse.assign(cell_scale=1.0, lattice=[coarse["lattice"][0]] * 4)
    unscaled = sample_geometry(same, pd.DataFrame())
    assert unscaled["enlarged"] == 0 and "scaled cells" not in geometry_text(unscaled)
