"""The corpus of hostile inputs (tests/data/bad, written by make_bad.py) mixed with good CIFs,
through the dataset + preprocess stages, validation and relaxation: no batch raises, every input
is exactly one row (by id) with its specific reason, and the good structures come out exactly as
they do alone."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mof.dataset import DatasetConfig, select_dataset
from mof.io import cif_paths
from mof.preprocess import decompose_all, params_from_config

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
EXPECTED = {Path(k).stem: v for k, v in json.loads((BAD / "expected.json").read_text()).items()}
GOOD = "good_upper_case"


def _make_bad():
    spec = importlib.util.spec_from_file_location("make_bad", BAD / "make_bad.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The corpus, written afresh by its generator."""
    folder = tmp_path_factory.mktemp("bad")
    _make_bad().make(folder)
    (folder / "expected.json").unlink()
    return folder


def test_the_committed_corpus_is_what_the_generator_writes(corpus):
    assert len(EXPECTED) >= 20
    made = sorted(p.name for p in corpus.iterdir())
    committed = sorted(
        p.name for p in BAD.iterdir() if p.name not in ("make_bad.py", "expected.json")
    )
    assert made == committed
    for name in made:
        if (corpus / name).is_file():
            assert (corpus / name).read_bytes() == (BAD / name).read_bytes(), name


def _first(reason: str) -> str:
    return str(reason).split(";")[0]


def test_dataset_and_preprocess_account_for_every_input(corpus, cif_dir, tmp_path):
    mixed = tmp_path / "mixed"
    shutil.copytree(corpus, mixed, symlinks=True)
    alone = tmp_path / "alone"
    alone.mkdir()
    for p in cif_dir.glob("*.cif"):
        shutil.copy(p, mixed / p.name)
        shutil.copy(p, alone / p.name)
    shutil.copy(corpus / f"{GOOD}.CIF", alone / f"{GOOD}.CIF")
    inputs = sorted(sid for sid, _ in cif_paths(mixed))
    assert len(inputs) == len(EXPECTED) + len(list(cif_dir.glob("*.cif")))

    params = params_from_config({})
    out = {}
    for name, folder in (("mixed", mixed), ("alone", alone)):
        cfg = DatasetConfig(source="folder", folder=str(folder), max_atoms=500, sample_size=None)
        structures, summary, excluded = select_dataset(cfg, progress=False, return_excluded=True)
        decs, rejects = decompose_all(structures, params, progress=False)
        out[name] = structures, excluded, decs, rejects
    structures, excluded, decs, rejects = out["mixed"]
    # every input is one row of structures or excluded, and every structure one mof or reject
    ids = list(structures["id"]) + list(excluded["id"])
    assert sorted(ids) == inputs
    decomposed = [d.id for d in decs]
    assert sorted(decomposed + list(rejects["id"])) == sorted(structures["id"])
    outcome = dict(zip(rejects["id"], rejects["reason"]))
    outcome |= {i: f"excluded:{r}" for i, r in zip(excluded["id"], excluded["reason"])}
    outcome |= dict.fromkeys(decomposed, "mof")
    for sid, exp in EXPECTED.items():
        assert outcome[sid] == exp["preprocess"], (sid, rejects.set_index("id").detail.get(sid))
    # the good structures decompose exactly as without the corpus
    _, _, decs_alone, rejects_alone = out["alone"]
    alone_by_id = {d.id: d for d in decs_alone}
    assert sorted(alone_by_id) == sorted(i for i in decomposed if i in alone_by_id)
    assert len(alone_by_id) == len(decomposed)
    for d in decs:
        a = alone_by_id[d.id]
        assert [b.block_id for b in d.blocks] == [b.block_id for b in a.blocks]
        assert np.allclose(
            np.stack([b.centre_frac for b in d.blocks]), [b.centre_frac for b in a.blocks]
        )
    alone_rejects = rejects_alone.set_index("id")["reason"].to_dict()
    assert {i: outcome[i] for i in alone_rejects} == alone_rejects


@pytest.mark.slow
def test_validation_gives_every_input_one_row_with_its_reason(corpus):
    from mof.validate import ValidateParams, validate_cifs

    p = ValidateParams(max_atoms=500, timeout=120)
    items = [(sid, str(path)) for sid, path in cif_paths(corpus)]
    df = validate_cifs(items, p, processes=2, progress=False)
    assert sorted(df["sample_id"]) == sorted(EXPECTED)
    got = dict(zip(df["sample_id"], df["reason"]))
    for sid, exp in EXPECTED.items():
        assert exp["validate"] in got[sid].split(";"), (sid, got[sid])
        assert _first(got[sid]) == exp["validate"] or exp["validate"] == "has_metal", sid
    assert not df.loc[df["sample_id"] != GOOD, "valid"].any()
    alone = validate_cifs([(GOOD, str(corpus / f"{GOOD}.CIF"))], p, progress=False)
    cols = [c for c in alone.columns if c != "seconds"]
    pd.testing.assert_frame_equal(
        df.set_index("sample_id").loc[[GOOD], cols[1:]], alone.set_index("sample_id")[cols[1:]]
    )


@pytest.mark.slow
def test_relaxation_gives_every_input_one_row_with_its_reason(corpus, tmp_path):
    from mof.relax import RelaxParams, relax_cifs

    # short minimisations for speed, accepted as relaxed (not not_converged) whatever their force
    p = RelaxParams(max_iterations=50, cycles=1, max_atoms=500, timeout=120)
    p.force_tolerance = p.max_pressure = 1e9
    items = [(sid, str(path)) for sid, path in cif_paths(corpus)]
    df = relax_cifs(items, tmp_path / "cif", p, processes=2, progress=False)
    assert sorted(df["sample_id"]) == sorted(EXPECTED)
    got = df.set_index("sample_id")
    for sid, exp in EXPECTED.items():
        row = got.loc[sid]
        assert row["reason"] == exp["relax"], (sid, row["reason"], row["error"])
        assert (row["status"] == "relaxed") == (exp["relax"] == ""), sid
        assert exp["relax"] == "" or row["error"], sid
    assert sorted(p.name for p in (tmp_path / "cif").iterdir()) == [
        "good_upper_case.cif",
        "no_metal.cif",
    ]
    alone = relax_cifs(
        [(GOOD, items[[s for s, _ in items].index(GOOD)][1])], tmp_path / "a", p, progress=False
    )
    cols = ["status", "n_atoms", "energy_initial", "energy_final", "steps", "volume_change"]
    a, m = alone.set_index("sample_id").loc[GOOD, cols], got.loc[GOOD, cols]
    assert a["status"] == m["status"] == "relaxed" and a["steps"] == m["steps"]
    assert np.allclose(a[cols[2:]].astype(float), m[cols[2:]].astype(float), rtol=1e-6)
