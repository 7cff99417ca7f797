"""Shared behaviour of the stage configs (dataclasses filled from config.yaml sections)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from typing import Self

# keys that change neither the trained weights nor the data: excluded from model_hash
RUNTIME_KEYS = ("device", "checkpoint_every")


class StageConfig:
    """Mixin for config dataclasses: build from a dict, hash what shapes the trained model."""

    @classmethod
    def from_dict(cls, d: dict) -> Self:
        """Known keys of ``d`` (the schema has already rejected unknown ones)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def model_hash(self) -> str:
        """Hash of everything that changes the trained weights (not device or checkpointing):
        a checkpoint resumes only under the same hash."""
        keep = {k: v for k, v in asdict(self).items() if k not in RUNTIME_KEYS}
        return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]
