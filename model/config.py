"""The model stages' configs: dataclasses filled from config.yaml sections (field names are the
config's keys; defaults are the schema's, which tests/mof/test_stage.py checks)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Self

import torch

# keys that change neither the trained weights nor the data: excluded from model_hash
RUNTIME_KEYS = ("device", "checkpoint_every")


class StageConfig:
    """Mixin for config dataclasses: build from a config section, hash what shapes the model."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_dict(cls, d: dict) -> Self:
        """Known keys of ``d``; a key it leaves out takes the schema's default for ``SECTION``."""
        from mof.stage import params_from

        return params_from(cls, d, cls.SECTION or None)

    def model_hash(self) -> str:
        """Hash of everything that changes the trained weights (not device or checkpointing):
        a checkpoint resumes only under the same hash."""
        keep = {k: v for k, v in asdict(self).items() if k not in RUNTIME_KEYS}
        return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class EmbedConfig(StageConfig):
    """The ``embed`` section: contrastive building-block embedding."""

    SECTION: ClassVar[str] = "embed"
    dim: int = 32
    hidden: int = 64
    layers: int = 3
    cutoff: float = 6.0
    temperature: float = 0.1
    steps: int = 600
    batch_size: int = 128
    lr: float = 1e-3
    aux_weight: float = 0.1
    jitter: float = 0.05
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"


@dataclass
class TrainConfig(StageConfig):
    """The ``train`` section: the coarse diffusion model and its training."""

    SECTION: ClassVar[str] = "train"
    dim: int = 64
    layers: int = 3
    heads: int = 4
    steps: int = 3000
    batch_size: int = 16
    bucket: int = 8
    lr: float = 5e-4
    warmup: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    self_cond_prob: float = 0.5
    mu_sigma_min: float = 0.01
    mu_sigma_max: float = 1.0
    skip: bool = False
    vp_time_power: float = 1.0
    checkpoint_every: int = 250
    seed: int = 0
    device: str = "auto"


@dataclass
class SampleConfig(StageConfig):
    """The ``sample`` section: batched sampling and decoding."""

    SECTION: ClassVar[str] = "sample"
    run: str = "default"
    n: int = 64
    batch_size: int = 16
    steps: int = 100
    seed: int = 0
    device: str = "auto"
    decode_top_k: int = 5
    mu_noise_scale: float = 0.0
    s_noise_scale: float = 1.0
    coherent_metals: bool = False
    max_distinct: int = 3
    require_organic: bool = True
    exclude_undercoordinated: bool = True
    density_quantiles: list[float] | None = field(default_factory=lambda: [0.0, 0.5])


def pick_device(name: str) -> torch.device:
    """``auto`` is CUDA when there is a GPU, else CPU; any other name as torch reads it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
