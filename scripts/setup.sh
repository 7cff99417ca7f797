#!/usr/bin/env bash
# Create (or update) the project environment in .venv with the exact versions in requirements.lock.
# Usage: bash scripts/setup.sh          (PYTHON=/path/to/python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
PIP=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
# MOFChecker's two compiled dependencies do not install from PyPI on Python 3.11 by themselves:
# - pyeqeq (EqEq charges) builds only without build isolation, with pybind11 and setuptools<81
#   (with a newer setuptools it imports but silently reports high charges for every structure);
# - libconeangle has no cp311 wheel and its source build downloads code; its cp310 wheel loads
#   its library through ctypes, so it is installed retagged as py3-none.
"${PIP[@]}" install "setuptools==80.10.2" "wheel==0.48.0" "pybind11==3.1.0"
if ! .venv/bin/python -m pip show pyeqeq >/dev/null 2>&1; then
    echo "[setup] building pyeqeq (MOFChecker's charge check)"
    "${PIP[@]}" install --no-build-isolation "pyeqeq==0.0.10"
fi
if ! .venv/bin/python -m pip show libconeangle >/dev/null 2>&1; then
    echo "[setup] installing libconeangle (cp310 wheel retagged py3-none)"
    tmp=$(mktemp -d)
    "${PIP[@]}" download --no-deps --only-binary :all: --python-version 3.10 \
        "libconeangle==0.1.2" -d "$tmp"
    .venv/bin/python -m wheel tags --python-tag py3 --abi-tag none --remove "$tmp"/libconeangle-*.whl
    "${PIP[@]}" install "$tmp"/libconeangle-0.1.2-py3-none-*.whl
    rm -rf "$tmp"
fi
echo "[setup] installing the project and its pinned dependencies into .venv"
"${PIP[@]}" install -c requirements.lock -e '.[dev]'
echo "[setup] done: $(.venv/bin/python -c 'import torch, pymatgen.core, rdkit, snakemake, mofchecker, pyzeo, lammps_interface; from mof.relax import lammps_version; print("torch", torch.__version__, "| snakemake", snakemake.__version__, "| mofchecker ok | LAMMPS", lammps_version())' 2>/dev/null)"
