"""Small helpers the stage entry points (``run`` functions) share: parameters from a config
section, the structures of a previous stage's table, and the one-line count of failure reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import pandas as pd

P = TypeVar("P")


def params_from(cls: type[P], cfg: dict) -> P:
    """``cls(**cfg)`` keeping only the keys the dataclass ``cls`` knows (the schema has checked
    the names; keys meant for other code, such as Snakemake's, are ignored here)."""
    known = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in cfg.items() if k in known})


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
