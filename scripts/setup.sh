#!/usr/bin/env bash
# Create (or update) the project environment in .venv with the exact versions in requirements.lock.
# Usage: bash scripts/setup.sh          (PYTHON=/path/to/python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
echo "[setup] installing the project and its pinned dependencies into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements.lock -e '.[dev]'
echo "[setup] done: $(.venv/bin/python -c 'import torch, pymatgen.core, rdkit, snakemake; print("torch", torch.__version__, "| snakemake", snakemake.__version__)')"
