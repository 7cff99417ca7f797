"""zeo++ pore geometry in subprocesses: agreement with the CoRE MOF CSV, bad inputs as errors."""

import pandas as pd
import pytest

from mof.porosity import porosity
from tests.conftest import DATA

CSV = pd.read_csv(DATA / "properties.csv").set_index("filename")


# the porous fixtures; in the two dense ones (ABAVIJ, KAXQIL) zeo++'s default radii put the LCD
# 0.36 and 0.63 A below the CSV (CoRE used other radii/accuracy), while their PLDs agree
@pytest.mark.parametrize(
    "name",
    ["FIQCEN_clean", "EDUSIF_clean", "OFERUN_clean", "VEHJUP_clean", "ja406030p_si_002_manual"],
)
def test_pore_diameters_agree_with_core_mof(cif_dir, name):
    res = porosity(cif_dir / f"{name}.cif")
    assert res["error"] is None
    assert res["lcd"] == pytest.approx(CSV.loc[name, "LCD"], abs=0.3)
    assert res["pld"] == pytest.approx(CSV.loc[name, "PLD"], abs=0.3)
    assert res["density"] == pytest.approx(CSV.loc[name, "cm3_g"], rel=0.01)
    assert res["void_fraction"] == pytest.approx(CSV.loc[name, "AV_VF"], abs=0.05)


def test_zeopp_exit_is_survived_by_a_perturbed_retry(cif_dir):
    # MOF-5's symmetric cell makes zeo++ exit() in its Voronoi step: the child process dies,
    # the retry on coordinates moved by 1e-3 A succeeds
    res = porosity(cif_dir / "EDUSIF_clean.cif")
    assert res["jittered"] is True and res["error"] is None


def test_bad_cif_is_an_error_not_a_crash(cif_dir, tmp_path):
    res = porosity(cif_dir / "broken_truncated.cif")
    assert res["error"] and "truncated" in res["error"]
    (tmp_path / "empty.cif").write_text("")
    assert porosity(tmp_path / "empty.cif")["error"]


def test_a_timed_out_run_is_not_retried(cif_dir, monkeypatch):
    import mof.porosity as porosity_module

    calls = []

    def slow(cif, probe_radius, samples, timeout):
        calls.append(cif)
        return {"error": f"zeo++ took longer than {timeout:.0f} s", "timed_out": True}

    monkeypatch.setattr(porosity_module, "_run_child", slow)
    res = porosity(cif_dir / "FIQCEN_clean.cif", timeout=5)
    assert len(calls) == 1
    assert res["error"] == "zeo++ took longer than 5 s" and res["jittered"] is False
