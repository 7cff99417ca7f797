"""Shared fixtures: the tiny CIF set under tests/data and a random sample of real CoRE MOFs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
CIFS = DATA / "cifs"
REAL_FIXTURES = [
    "ABAVIJ_clean",
    "EDUSIF_clean",
    "FIQCEN_clean",
    "KAXQIL_clean",
    "OFERUN_clean",
    "VEHJUP_clean",
    "ja406030p_si_002_manual",
]


@pytest.fixture(scope="session")
def cif_dir() -> Path:
    return CIFS


@pytest.fixture(scope="session")
def real_crystals():
    from mof.io import read_cif

    return {n: read_cif(CIFS / f"{n}.cif") for n in REAL_FIXTURES}


@pytest.fixture(scope="session")
def core_mof_sample():
    """40 random non-disordered CoRE MOF 2019-ASR structures with at most 300 atoms."""
    from mof.coremof import core_mof_properties, iter_core_mof_cifs
    from mof.io import parse_cif

    props = core_mof_properties("2019-ASR")
    ok = props.index[~props["DISORDER"].astype(str).str.upper().eq("DISORDER")]
    rng = np.random.default_rng(7)
    wanted = set(rng.choice(np.asarray(ok), size=120, replace=False))
    out = []
    for cid, text in iter_core_mof_cifs("2019-ASR", wanted):
        cr = parse_cif(text, cid)
        if cr.n_atoms <= 300:
            out.append(cr)
    out.sort(key=lambda c: c.id)
    return out[:40]


def write_test_config(tmp: Path) -> Path:
    """Write tests/config.test.yaml into tmp with absolute paths; return its path."""
    cfg = yaml.safe_load((REPO / "tests" / "config.test.yaml").read_text())
    for key in ("folder", "properties_csv"):
        if cfg["dataset"].get(key):
            cfg["dataset"][key] = str(REPO / cfg["dataset"][key])
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the project's Snakefile in ``workdir`` with the environment's snakemake."""
    exe = Path(sys.executable).parent / "snakemake"
    cmd = [str(exe), "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir), *args]
    env = dict(os.environ)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def fixture_tables(real_crystals):
    """(structures, mofs, block_instances, building_blocks) tables of the real fixture MOFs."""
    import pandas as pd

    from mof.decompose import DecomposeParams
    from mof.preprocess import decompose_all, tables
    from mof.tables import to_cell

    rows = []
    for k, cr in enumerate(real_crystals.values()):
        rows.append(
            {
                "id": cr.id,
                "split": "val" if k == 0 else "train",
                "formula": cr.formula,
                "parse_error": None,
                "lattice": to_cell(cr.lattice),
                "species": cr.species,
                "frac_coords": to_cell(cr.frac),
                "occupancy": to_cell(cr.occupancy),
            }
        )
    structures = pd.DataFrame(rows)
    decs, _ = decompose_all(structures, DecomposeParams(), processes=1, progress=False)
    mofs, inst, bb = tables(decs, structures)
    return structures, mofs, inst, bb


@pytest.fixture(scope="session")
def random_embeddings(fixture_tables):
    """A stand-in embedding table (random 8-d vectors per building block, seeded)."""
    import pandas as pd

    _, _, _, bb = fixture_tables
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "block_id": bb["block_id"],
            "vector": list(rng.normal(size=(len(bb), 8)).astype(np.float32)),
            "in_library": True,
            "kind": bb["kind"],
        }
    )


@pytest.fixture(scope="session")
def coarse_mofs(fixture_tables, random_embeddings):
    from model.data import load_coarse_mofs

    return load_coarse_mofs(fixture_tables[1], random_embeddings)
