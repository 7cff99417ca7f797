"""Small helpers the stage entry points (``run`` functions) share: parameters from a config
section, the structures of a previous stage's table, and the one-line count of failure reasons.

The calling convention. Every stage but training (which runs under torchrun, ``model.train``)
has ``run(inputs, outputs, cfg, *, threads=1, say=print)``: ``inputs`` and ``outputs`` map the
names of its rule's inputs and outputs (``rules/*.smk``) to paths, ``cfg`` is its config
section, ``threads`` the cores it may use, ``say`` where its one-line summary goes; stages of a
sampling run also take ``run_name``. The one rule script, ``workflow/scripts/run_stage.py``,
calls them all this way.

Defaults. The JSON schema (``workflow/schemas/config.schema.yaml``) is the one source of the
config's defaults: :func:`params_from` fills a key the section leaves out from the schema, and the
dataclasses' own defaults are tested to equal the schema's (tests/mof/test_stage.py).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

P = TypeVar("P")

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def config_schema() -> dict:
    """The config's JSON schema (parsed once)."""
    import yaml

    return yaml.safe_load(SCHEMA_PATH.read_text())


def config_defaults(section: str) -> dict[str, Any]:
    """``{key: default}`` of one section of the config, as the schema states them."""
    props = config_schema()["properties"][section]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


def params_from(cls: type[P], cfg: dict, section: str | None = None) -> P:
    """The dataclass ``cls`` from a config section: field names are config keys.

    Keys ``cls`` does not know are ignored (the schema has checked the names; keys meant for
    other code, such as Snakemake's, may be there). With ``section``, a key that ``cfg`` leaves out
    takes the schema's default for that section rather than the dataclass's.
    """
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    given = {**(config_defaults(section) if section else {}), **cfg}
    return cls(**{k: v for k, v in given.items() if k in known})


def structures_with_status(
    table: pd.DataFrame, cif_dir: str | Path, status: str | tuple[str, ...]
) -> list[tuple[str, str]]:
    """(sample_id, CIF path) of the rows of a stage table whose ``status`` is ``status`` (or one
    of several)."""
    wanted = (status,) if isinstance(status, str) else tuple(status)
    ok = table[table["status"].isin(wanted)]
    return [(r.sample_id, str(Path(cif_dir) / r.cif)) for r in ok.itertuples()]


def reason_counts(reasons: Iterable[str], most: int | None = 6) -> str:
    """``"a 3, b 1"``: the ``;``-separated codes of ``reasons`` counted, commonest first."""
    counts = Counter(code for r in reasons if r for code in str(r).split(";") if code)
    return ", ".join(f"{k} {v}" for k, v in counts.most_common(most)) or "none"
