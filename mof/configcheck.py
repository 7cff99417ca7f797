"""Start-up checks of the configuration that the JSON schema cannot express: constraints between
two keys, and paths that must exist. The Snakefile calls :func:`check_config` right after the
schema validation, so a bad config stops the run before any job with one line naming the keys."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the keys."""


def config_problems(config: dict, root: str | Path = ".") -> list[str]:
    """Every cross-field or path problem of ``config`` (relative paths from ``root``)."""
    problems = []
    train = config.get("train") or {}
    dim, heads = train.get("dim"), train.get("heads")
    if isinstance(dim, int) and isinstance(heads, int) and heads > 0 and dim % heads:
        problems.append(f"train.dim ({dim}) must be divisible by train.heads ({heads})")
    split = (config.get("dataset") or {}).get("split") or {}
    if split and sum(float(v) for v in split.values()) <= 0:
        problems.append("dataset.split fractions (train, val, test) must not all be 0")
    if split and not float(split.get("train", 0)) > 0:
        problems.append("dataset.split.train must be positive (the model needs training data)")
    ds = config.get("dataset") or {}
    if ds.get("source") == "folder":
        folder = ds.get("folder")
        if not folder:
            problems.append("dataset.source is 'folder' but dataset.folder is not set")
        else:
            path = Path(root) / folder
            if not path.exists():
                problems.append(f"dataset.folder {folder} does not exist")
            elif not path.is_dir():
                problems.append(f"dataset.folder {folder} is a file, not a folder")
    csv = ds.get("properties_csv")
    if csv:
        path = Path(root) / csv
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            problems.append(f"dataset.properties_csv {csv} {what}")
    return problems


def check_config(config: dict, root: str | Path = ".") -> None:
    """Raise :class:`ConfigError` listing every problem of :func:`config_problems`."""
    problems = config_problems(config, root)
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))
