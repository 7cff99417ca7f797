"""The helpers the stage entry points share."""

from dataclasses import dataclass

import pandas as pd

from mof.stage import params_from, reason_counts, structures_with_status


@dataclass
class _Params:
    a: int = 1
    b: float = 2.0


def test_params_from_keeps_known_keys_only():
    p = params_from(_Params, {"a": 5, "threads": 8})
    assert p == _Params(a=5, b=2.0)


def test_structures_with_status_and_reason_counts(tmp_path):
    table = pd.DataFrame(
        {
            "sample_id": ["x", "y", "z"],
            "status": ["relaxed", "failed", "relaxed"],
            "cif": ["x.cif", None, "z.cif"],
        }
    )
    assert structures_with_status(table, tmp_path, "relaxed") == [
        ("x", str(tmp_path / "x.cif")),
        ("z", str(tmp_path / "z.cif")),
    ]
    assert reason_counts(["pld<2.4;has_metal", "", "pld<2.4", None]) == "pld<2.4 2, has_metal 1"
    assert reason_counts([]) == "none"
