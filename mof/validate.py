"""Validation of MOF structures: MOFChecker checks and zeo++ porosity.

The checks MOFDiff counted, each one a column (True means the structure passes it):

==================================  ===========================================================
column                              MOFChecker descriptor (and the value that passes)
==================================  ===========================================================
ok_has_carbon                       has_carbon (True)
ok_has_hydrogen                     has_hydrogen (True)
ok_has_metal                        has_metal (True)
ok_no_atomic_overlaps               has_atomic_overlaps (False)
ok_no_overcoordinated_c / _n / _h   has_overcoordinated_c / _n / _h (False)
ok_no_undercoordinated_c / _n       has_undercoordinated_c / _n (False)
ok_no_undercoordinated_rare_earth   has_undercoordinated_rare_earth (False)
ok_no_undercoordinated_alkali       has_undercoordinated_alkali_alkaline (False)
ok_no_lone_molecule                 has_lone_molecule (False)
ok_no_high_charges                  has_high_charges (False; EqEq charges through pyeqeq)
ok_no_suspicious_terminal_oxo       has_suspicicious_terminal_oxo (False)
ok_no_exposed_metal                 has_geometrically_exposed_metal (False)
==================================  ===========================================================

One more check is recorded beside them and is not part of ``valid`` (MOFDiff did not make it):
``contact_ratio``, the closest approach of two atoms over the sum of their covalent radii
(:func:`mof.screen.closest_contact_ratio`), and ``ok_contacts`` when it is at least
``min_contact_ratio`` (0.7). MOFChecker's overlap check only fails two atoms closer than the
smaller covalent radius, so it passes, e.g., two Yb 2.3 A or two carboxylate O 0.86 A apart.

MOFChecker's own ``is_porous`` needs zeo++'s ``network`` binary, which pyzeo does not ship; the
porosity columns come from :mod:`mof.porosity` instead. ``valid`` = every check passes and the
pore-limiting diameter is at least ``min_pld`` (2.4 A). A check that raises is recorded as
failed (null value) with the error in ``check_errors``; one structure never stops the batch.
Cheap checks run first. MOFChecker runs in a child process per structure with a hard time limit
(``timeout``), as zeo++ does: its charge check is C++ that cannot be interrupted from Python.

Before MOFChecker and zeo++, every CIF goes through :func:`mof.screen.screen_cif` (the project's
one CIF reader): a structure it refuses is not checked, and ``reason`` is its code (``bad_cif``,
``multiple_data_blocks``, ``too_many_atoms``, ``disorder``, ``overlapping_atoms``). Otherwise
``reason`` lists the failed checks (``has_metal``, ...) and ``pld<2.4`` / ``no_porosity``;
``timeout`` when MOFChecker or zeo++ ran out of time, ``checker_error`` when MOFChecker could not
read a structure our reader accepts, ``error`` for anything unexpected.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mof.child import Crashed, Done, TimedOut, run_in_child
from mof.porosity import FIELDS

# (column, MOFChecker descriptor, value that passes)
CHECKS = [
    ("ok_has_carbon", "has_carbon", True),
    ("ok_has_hydrogen", "has_hydrogen", True),
    ("ok_has_metal", "has_metal", True),
    ("ok_no_atomic_overlaps", "has_atomic_overlaps", False),
    ("ok_no_overcoordinated_c", "has_overcoordinated_c", False),
    ("ok_no_overcoordinated_n", "has_overcoordinated_n", False),
    ("ok_no_overcoordinated_h", "has_overcoordinated_h", False),
    ("ok_no_undercoordinated_c", "has_undercoordinated_c", False),
    ("ok_no_undercoordinated_n", "has_undercoordinated_n", False),
    ("ok_no_undercoordinated_rare_earth", "has_undercoordinated_rare_earth", False),
    ("ok_no_undercoordinated_alkali", "has_undercoordinated_alkali_alkaline", False),
    ("ok_no_suspicious_terminal_oxo", "has_suspicicious_terminal_oxo", False),
    ("ok_no_exposed_metal", "has_geometrically_exposed_metal", False),
    ("ok_no_lone_molecule", "has_lone_molecule", False),  # expensive: last but one
    ("ok_no_high_charges", "has_high_charges", False),  # expensive: last
]
CHECK_COLUMNS = [c[0] for c in CHECKS]


@dataclass
class ValidateParams:
    min_pld: float = 2.4
    probe_radius: float = 1.86
    zeopp_samples: int = 2000
    timeout: float = 600.0
    min_distance: float = 0.5
    max_atoms: int = 10000
    min_contact_ratio: float = 0.7


def mofchecker_checks(cif: str) -> dict:
    """In a child process: MOFChecker's checks of one CIF, ``CHECK_COLUMNS`` plus
    ``check_errors``. A check that raises is a null value with its error."""
    out: dict = dict.fromkeys(CHECK_COLUMNS)
    errors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mofchecker import MOFChecker

        try:
            mc = MOFChecker.from_cif(cif)
        except Exception as e:  # noqa: BLE001 - reported in the row
            mc = None
            errors.append(f"MOFChecker could not read the structure: {type(e).__name__}: {e}")
        for col, attr, good in CHECKS if mc is not None else []:
            try:
                out[col] = bool(getattr(mc, attr)) == good
            except Exception as e:  # noqa: BLE001 - a failing check is a failed check
                errors.append(f"{attr}: {type(e).__name__}: {str(e)[:120]}")
    out["check_errors"] = "; ".join(errors)
    return out


def check_structure(cif: str, timeout: float = 600.0) -> dict:
    """MOFChecker checks of one CIF in a child process with a hard time limit: its EQeq charge
    check is C++ that a Python alarm cannot interrupt, and a junk structure can keep it busy."""
    outcome = run_in_child(
        mofchecker_checks, [str(cif)], timeout=timeout, env={"OMP_NUM_THREADS": "1"}
    )
    if isinstance(outcome, Done):
        return outcome.value
    out: dict = dict.fromkeys(CHECK_COLUMNS)
    if isinstance(outcome, TimedOut):
        out["check_errors"] = f"MOFChecker took longer than {timeout:.0f} s"
    elif isinstance(outcome, Crashed):
        out["check_errors"] = f"MOFChecker died (exit code {outcome.exit_code}): {outcome.output}"
    else:
        out["check_errors"] = f"MOFChecker could not read the structure: {outcome.error}"
    return out


def _work(args) -> dict:
    from mof.screen import screen_cif

    sid, cif, p = args
    t0 = time.perf_counter()
    row = {"sample_id": sid, **dict.fromkeys(CHECK_COLUMNS), "porosity_error": ""}
    row.update(dict.fromkeys(FIELDS, np.nan), ok_pld=False, valid=False)
    row.update(contact_ratio=np.nan, contact_pair="", ok_contacts=False)
    try:
        cr, reason, error = screen_cif(cif, p.min_distance, p.max_atoms)
        if reason:
            row.update(check_errors=error, reason=reason)
        else:
            _contacts(row, cr, p)
            _check(row, cif, p)
    except Exception as e:  # noqa: BLE001 - one structure never stops the batch
        row.update(check_errors=f"{type(e).__name__}: {e}", reason="error", valid=False)
    row["seconds"] = time.perf_counter() - t0
    return row


def _contacts(row: dict, cr, p: ValidateParams) -> None:
    """``contact_ratio``, ``contact_pair`` (``"Yb-Yb 2.30 A"``) and ``ok_contacts`` of a
    crystal."""
    from mof.screen import closest_contact_ratio

    ratio, i, j, d = closest_contact_ratio(cr.frac, cr.lattice, cr.species)
    row["contact_ratio"] = ratio
    row["ok_contacts"] = bool(ratio >= p.min_contact_ratio)
    if i >= 0:
        row["contact_pair"] = f"{cr.species[i]}-{cr.species[j]} {d:.2f} A"


def _check(row: dict, cif: str, p: ValidateParams) -> None:
    from mof.porosity import porosity

    row.update(check_structure(cif, p.timeout))
    por = porosity(cif, p.probe_radius, p.zeopp_samples, p.timeout)
    row.update({k: por[k] for k in FIELDS})
    row["porosity_error"] = por["error"] or ""
    failed = [c for c in CHECK_COLUMNS if row[c] is not True]
    pld_ok = bool(np.isfinite(row["pld"]) and row["pld"] >= p.min_pld)
    row["ok_pld"] = pld_ok
    row["valid"] = not failed and pld_ok
    if "took longer" in row["check_errors"]:
        reasons = ["timeout"]
    elif all(row[c] is None for c in CHECK_COLUMNS):
        reasons = ["checker_error"]
    else:
        reasons = [c.removeprefix("ok_") for c in failed]
    if not pld_ok:
        if "took longer" in row["porosity_error"]:
            reasons.append("timeout")
        else:
            reasons.append(f"pld<{p.min_pld}" if np.isfinite(row["pld"]) else "no_porosity")
    row["reason"] = ";".join(dict.fromkeys(reasons))


def validate_cifs(
    items: list[tuple[str, str]],
    params: ValidateParams | None = None,
    processes: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Validate (id, CIF path) pairs in parallel; one row per structure."""
    from mof.parallel import progress_map
    from mof.resume import sweep_stale_temp

    p = params or ValidateParams()
    sweep_stale_temp("child")  # zeo++ folders of killed runs
    jobs = [(sid, str(cif), p) for sid, cif in items]
    rows = progress_map(
        _work, jobs, processes, "validate: structures", maxtasksperchild=50, progress=progress
    )
    cols = [
        "sample_id",
        *CHECK_COLUMNS,
        "check_errors",
        "lcd",
        "pld",
        "lfpd",
        "asa_m2_g",
        "asa_m2_cm3",
        "void_fraction",
        "density",
        "porosity_error",
        "ok_pld",
        "valid",
        "reason",
        "contact_ratio",
        "contact_pair",
        "ok_contacts",
        "seconds",
    ]
    df = pd.DataFrame(rows, columns=cols)
    for c in CHECK_COLUMNS:
        df[c] = df[c].astype("boolean")
    return df


#: relaxation outcomes that come with a relaxed CIF, all validated: MOFDiff judges every
#: structure its relaxation returns; the report also counts those whose relaxation converged and
#: kept the bond graph (``relaxed``)
RELAXED_OUTCOMES = ("relaxed", "not_converged", "topology_changed", "symmetry_broken")


def run(
    inputs: dict,
    outputs: dict,
    cfg: dict,
    *,
    threads: int = 1,
    say=print,
    status: str | tuple[str, ...] = RELAXED_OUTCOMES,
) -> pd.DataFrame:
    """The validate_mofs stage: the CIF of every structure of ``inputs["table"]`` (the
    relaxation's table; CIFs in ``inputs["cifs"]``) whose ``status`` is in ``status`` is checked
    (by default every one relaxation wrote a CIF for); ``outputs["table"]``: validation.parquet,
    whose ``relax_status`` column is the relaxation's status."""
    from mof.stage import params_from, reason_counts, structures_with_status
    from mof.tables import read_table, write_table

    table = read_table(inputs["table"])
    items = structures_with_status(table, inputs["cifs"], status)
    params = params_from(ValidateParams, cfg, "validate")
    df = validate_cifs(items, params, threads)
    status_of = dict(zip(table["sample_id"], table["status"])) if len(table) else {}
    df.insert(1, "relax_status", [status_of.get(s, "") for s in df["sample_id"]])
    write_table(df, outputs["table"])
    top = reason_counts(df["reason"])
    valid = df["valid"].astype(bool) if len(df) else pd.Series([], dtype=bool)
    strict = int((valid & (df["relax_status"] == "relaxed")).sum()) if len(df) else 0
    say(
        f"[validate_mofs] {len(table)} structures, {len(items)} with a relaxed CIF in -> "
        f"{int(valid.sum())} valid ({strict} of them relaxed with convergence and bond graph "
        f"kept); failures: {top}"
    )
    return df
