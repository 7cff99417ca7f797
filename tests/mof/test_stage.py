"""The helpers the stage entry points share."""

from dataclasses import dataclass

import pandas as pd
import pytest

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


def _defaults(cls) -> dict:
    from dataclasses import MISSING, fields

    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


def _config_classes():
    from model.config import EmbedConfig, SampleConfig, TrainConfig
    from mof.assemble import AssemblyParams
    from mof.dataset import DatasetConfig
    from mof.relax import RelaxParams
    from mof.validate import ValidateParams

    return [
        (DatasetConfig, "dataset"),
        (EmbedConfig, "embed"),
        (TrainConfig, "train"),
        (SampleConfig, "sample"),
        (AssemblyParams, "assemble"),
        (RelaxParams, "relax"),
        (ValidateParams, "validate"),
    ]


@pytest.mark.parametrize(
    "section", ["dataset", "embed", "train", "sample", "assemble", "relax", "validate"]
)
def test_dataclass_defaults_are_the_schemas(section):
    """The schema is the one source of defaults: every config key is a field of the section's
    dataclass (same name) with the schema's default."""
    from mof.stage import config_defaults

    cls = dict((s, c) for c, s in _config_classes())[section]
    schema = config_defaults(section)
    ours = _defaults(cls)
    assert set(schema) <= set(ours), f"config keys that {cls.__name__} lacks"
    assert {k: ours[k] for k in schema} == schema


def test_preprocess_defaults_are_the_schemas():
    """The preprocess section feeds two dataclasses (DecomposeParams and its BondParams) whose
    field names are its keys: every key the schema lists is a field of one of them with the
    schema's default, and a key set in the config arrives in its field."""
    from dataclasses import fields

    from mof.bonds import BondParams
    from mof.decompose import DecomposeParams
    from mof.preprocess import params_from_config
    from mof.stage import config_defaults

    defaults = config_defaults("preprocess")
    owners = {f.name: BondParams() for f in fields(BondParams)}
    owners.update({f.name: DecomposeParams() for f in fields(DecomposeParams) if f.name != "bonds"})
    for key, value in defaults.items():
        assert key in owners, f"preprocess.{key} is no dataclass field"
        assert getattr(owners[key], key) == value, key
    assert params_from_config({}) == DecomposeParams()
    p = params_from_config({"bond_tolerance": 0.3, "max_blocks": 7})
    assert p.bonds.bond_tolerance == 0.3 and p.max_blocks == 7


def test_params_from_fills_missing_keys_from_the_schema():
    from model.config import TrainConfig
    from mof.stage import config_defaults

    p = params_from(TrainConfig, {"dim": 8}, "train")
    assert p.dim == 8 and p.steps == config_defaults("train")["steps"]
    assert TrainConfig.from_dict({}) == TrainConfig()
