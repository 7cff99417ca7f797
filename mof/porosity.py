"""Pore geometry with zeo++ (the ``pyzeo`` bindings), each structure in its own subprocess.

zeo++ calls ``exit()`` on some inputs (for example a degenerate Voronoi decomposition of a
highly symmetric cell, as in MOF-5), which would kill the calling Python process; so every
structure runs in a child process (:func:`mof.child.run_in_child`) with a time limit. A run
that failed (not one that timed out) is retried once on a copy whose coordinates are perturbed
by 1e-3 A (which removes the Voronoi degeneracy); the result says whether that happened.

Returned quantities (zeo++ defaults: its own atomic radii, high accuracy off):
``lcd`` largest cavity diameter (Di), ``pld`` pore-limiting diameter (Df), ``lfpd`` largest free
sphere along the free path (Dif), all in A; ``asa_m2_g``, ``asa_m2_cm3`` accessible surface area
for a probe of ``probe_radius`` (1.86 A, N2); ``void_fraction`` accessible with a probe of radius
0 (the geometric void fraction, as in the CoRE MOF tables); ``density`` g/cm^3.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from mof.child import Crashed, Done, TimedOut, run_in_child

FIELDS = ["lcd", "pld", "lfpd", "asa_m2_g", "asa_m2_cm3", "void_fraction", "density"]


def _number(text: str, key: str) -> float:
    m = re.search(re.escape(key) + r"\s*([-+0-9.eE]+)", text)
    if not m:
        raise ValueError(f"zeo++ output has no {key}: {text[:200]!r}")
    return float(m.group(1))


def _compute(cif: str, probe_radius: float, samples: int) -> dict:
    """In the child process: run zeo++ on one CIF."""
    from pyzeo.area_volume import surface_area, volume
    from pyzeo.netstorage import AtomNetwork

    net = AtomNetwork.read_from_CIF(cif)
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(tmp) / "free_sphere.res"
        net.calculate_free_sphere_parameters(str(res))
        di, df, dif = (float(x) for x in res.read_text().split()[1:4])
    sa = surface_area(net, probe_radius, probe_radius, samples)
    sa = sa.decode() if isinstance(sa, bytes) else str(sa)
    vol = volume(net, 0.0, 0.0, samples * 25)
    vol = vol.decode() if isinstance(vol, bytes) else str(vol)
    return {
        "lcd": di,
        "pld": df,
        "lfpd": dif,
        "asa_m2_g": _number(sa, "ASA_m^2/g:"),
        "asa_m2_cm3": _number(sa, "ASA_m^2/cm^3:"),
        "void_fraction": _number(vol, "AV_Volume_fraction:"),
        "density": _number(sa, "Density:"),
    }


def _run_child(cif: Path, probe_radius: float, samples: int, timeout: float) -> dict:
    """zeo++ on one CIF in a child process: its result, or ``{"error": ...}``."""
    outcome = run_in_child(
        _compute,
        [str(cif), probe_radius, samples],
        timeout=timeout,
        env={"OMP_NUM_THREADS": "1"},
    )
    if isinstance(outcome, Done):
        return outcome.value
    if isinstance(outcome, TimedOut):
        return {"error": f"zeo++ took longer than {timeout:.0f} s", "timed_out": True}
    if isinstance(outcome, Crashed):
        return {"error": f"zeo++ exited with code {outcome.exit_code}: {outcome.output}"}
    return {"error": f"zeo++ failed: {outcome.error}"}


def porosity(
    cif: str | Path, probe_radius: float = 1.86, samples: int = 2000, timeout: float = 300.0
) -> dict:
    """Pore geometry of one CIF: the ``FIELDS`` plus ``jittered`` (bool) and ``error`` (str or
    None). Never raises for a structure zeo++ cannot handle: the error says why."""
    from mof.io import CifError, read_cif, write_cif

    cif = Path(cif)
    try:  # zeo++ reads a truncated CIF without complaint: check it with our reader first
        cr = read_cif(cif)
    except (CifError, ValueError) as e:
        return {**dict.fromkeys(FIELDS, np.nan), "jittered": False, "error": f"bad CIF: {e}"}
    result = _run_child(cif, probe_radius, samples, timeout)
    jittered = False
    if result.get("timed_out"):  # a retry would only take as long again
        return {**dict.fromkeys(FIELDS, np.nan), "jittered": False, "error": result["error"]}
    if "error" in result:  # a degenerate input: zeo++ exited
        rng = np.random.default_rng(0)
        cr.frac = (
            cr.frac + np.linalg.solve(cr.lattice.T, rng.normal(scale=1e-3, size=cr.frac.shape).T).T
        )
        with tempfile.TemporaryDirectory() as tmp:
            moved = Path(tmp) / cif.name
            write_cif(moved, cr)
            second = _run_child(moved, probe_radius, samples, timeout)
        if "error" in second:
            return {
                **dict.fromkeys(FIELDS, np.nan),
                "jittered": True,
                "error": f"{result['error']}; after a 1e-3 A perturbation: {second['error']}",
            }
        result, jittered = second, True
    return {**{k: result[k] for k in FIELDS}, "jittered": jittered, "error": None}
