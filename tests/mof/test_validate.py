"""MOFChecker + zeo++ validation of real CoRE MOFs and of bad inputs."""

import numpy as np
import pytest

from mof.validate import CHECK_COLUMNS, ValidateParams, validate_cifs


@pytest.fixture(scope="module")
def table(cif_dir):
    names = ["FIQCEN_clean", "OFERUN_clean", "ABAVIJ_clean", "broken_truncated", "nometal_mof5"]
    items = [(n, cif_dir / f"{n}.cif") for n in names]
    return validate_cifs(items, ValidateParams(), processes=2, progress=False).set_index(
        "sample_id"
    )


def test_real_mofs_pass_and_columns_are_filled(table):
    for name in ("FIQCEN_clean", "OFERUN_clean"):
        row = table.loc[name]
        assert row[CHECK_COLUMNS].notna().all(), row["check_errors"]
        assert row["valid"], row["reason"]
        assert row["pld"] > 2.4 and row["density"] > 0.5


def test_real_mofs_have_no_close_contacts(table):
    for name in ("FIQCEN_clean", "OFERUN_clean", "ABAVIJ_clean"):
        row = table.loc[name]
        assert row["ok_contacts"] and 0.7 <= row["contact_ratio"] < 1.0, row["contact_pair"]
    assert not table.loc["broken_truncated", "ok_contacts"]  # not measured: not passed


def test_a_squeezed_pair_fails_the_contact_check_only(cif_dir):
    """Two Cu of HKUST-1 moved 1.5 A apart: ``ok_contacts`` fails with the pair named; the
    MOFChecker columns and ``valid`` are left to MOFChecker and zeo++."""
    from mof.screen import screen_cif
    from mof.validate import _contacts

    cr, _, _ = screen_cif(cif_dir / "FIQCEN_clean.cif")
    cu = [k for k, s in enumerate(cr.species) if s == "Cu"]
    a = cu[0]
    b = min(cu[1:], key=lambda k: np.linalg.norm((cr.frac[k] - cr.frac[a]) @ cr.lattice))
    step = (cr.frac[b] - cr.frac[a]) @ cr.lattice
    cr.frac[b] = cr.frac[a] + (1.5 * step / np.linalg.norm(step)) @ np.linalg.inv(cr.lattice)
    row: dict = {}
    _contacts(row, cr, ValidateParams())
    assert not row["ok_contacts"] and row["contact_pair"] == "Cu-Cu 1.50 A"
    assert row["contact_ratio"] == pytest.approx(1.5 / 2.64, abs=0.01)
    assert set(row) == {"contact_ratio", "contact_pair", "ok_contacts"}


def test_dense_mof_fails_only_on_pore_size(table):
    row = table.loc["ABAVIJ_clean"]
    assert bool(row[CHECK_COLUMNS].all())
    assert not row["valid"] and row["reason"] == "pld<2.4"


def test_bad_inputs_are_rows_with_reasons(table):
    # refused by the project's reader before MOFChecker and zeo++, with the reader's message
    assert table.loc["broken_truncated", "reason"] == "bad_cif"
    assert "truncated" in table.loc["broken_truncated", "check_errors"]
    nometal = table.loc["nometal_mof5"]
    assert not nometal["valid"] and "has_metal" in nometal["reason"].split(";")
    assert len(table) == 5


def test_stage_validates_every_relaxed_cif_and_keeps_the_relax_status(tmp_path, monkeypatch):
    """relaxed, not_converged and topology_changed structures all have a relaxed CIF and are
    validated (MOFDiff judges whatever its relaxation returns); failed ones have none."""
    import pandas as pd

    import mof.validate as validate
    from mof.tables import write_table

    seen = []

    def fake(items, params, processes):
        seen.extend(sid for sid, _ in items)
        return pd.DataFrame({"sample_id": [s for s, _ in items], "valid": True, "reason": ""})

    monkeypatch.setattr(validate, "validate_cifs", fake)
    relaxed = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d"],
            "status": ["relaxed", "topology_changed", "not_converged", "failed"],
            "cif": ["a.cif", "b.cif", "c.cif", ""],
        }
    )
    write_table(relaxed, tmp_path / "relaxed.parquet")
    inputs = {"table": str(tmp_path / "relaxed.parquet"), "cifs": str(tmp_path)}
    out = {"table": str(tmp_path / "validation.parquet")}
    lines = []
    df = validate.run(inputs, out, {}, say=lines.append)
    assert seen == ["a", "b", "c"]
    assert df.set_index("sample_id")["relax_status"].to_dict() == {
        "a": "relaxed",
        "b": "topology_changed",
        "c": "not_converged",
    }
    assert "3 valid (1 of them relaxed with convergence" in lines[0]


def test_a_checker_stuck_where_python_cannot_interrupt_it_is_stopped_at_the_time_limit(
    cif_dir, tmp_path, monkeypatch
):
    """MOFChecker's EQeq charges are C++: a structure that keeps it busy must not hold the
    stage. A stand-in mofchecker blocks SIGALRM (as C code holds off Python's handlers) and
    sleeps 60 s; the checks must come back after the 3 s limit as a timeout."""
    import os
    import sys
    import time

    from mof.validate import check_structure
    from tests.conftest import REPO

    fake = tmp_path / "mofchecker"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import signal, time\n"
        "class MOFChecker:\n"
        "    @classmethod\n"
        "    def from_cif(cls, cif):\n"
        "        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
        "        time.sleep(60)\n"
    )
    # the stand-in replaces mofchecker here and in any child process
    path = os.pathsep.join([str(tmp_path), str(REPO), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mofchecker", raising=False)
    t0 = time.monotonic()
    out = check_structure(str(cif_dir / "FIQCEN_clean.cif"), timeout=3)
    assert time.monotonic() - t0 < 45
    assert out["check_errors"] == "MOFChecker took longer than 3 s"
    assert all(out[c] is None for c in CHECK_COLUMNS)
