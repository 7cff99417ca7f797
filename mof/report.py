"""The report stage: the MOF-generation funnel, novelty and uniqueness (criterion in
:mod:`mof.novelty`, stated in the report), per-check failures and property distributions, as MOF
generation papers report them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mof.composition import composition_text
from mof.novelty import block_key, novelty_uniqueness, structure

REFERENCES = [
    # (method, sampled, valid, valid-novel-unique, note)
    ("MOFDiff (Fu et al. 2024)", 10000, 3012, 2998, "BW-DB training set (289k MOFs), UFF relaxed"),
    ("Mofasa", None, "52.9%", "40-46%", "QMOF training set"),
    (
        "real CoRE MOFs, this pipeline's relax + validate",
        50,
        38,
        "-",
        "the baseline: 50 CoRE MOF 2019-ASR structures (benchmarks/bench_relax.py --n 50); "
        "31 of them valid with a strict relaxation",
    ),
]
PROPERTIES = [
    ("lcd", "LCD (A)"),
    ("pld", "PLD (A)"),
    ("asa_m2_g", "ASA (m2/g)"),
    ("void_fraction", "void fraction"),
    ("density", "density (g/cm3)"),
]


def plot_properties(generated: pd.DataFrame, training: pd.DataFrame, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PROPERTIES), figsize=(4 * len(PROPERTIES), 3.4))
    for ax, (col, label) in zip(axes, PROPERTIES):
        tr = pd.to_numeric(training.get(col, pd.Series(dtype=float)), errors="coerce").dropna()
        ge = pd.to_numeric(generated.get(col, pd.Series(dtype=float)), errors="coerce").dropna()
        data = [x for x in (tr, ge) if len(x)]
        bins = np.histogram_bin_edges(np.concatenate(data), bins=25) if data else 10
        if len(tr):
            ax.hist(tr, bins=bins, density=True, alpha=0.5, label=f"training ({len(tr)})")
        if len(ge):
            ax.hist(ge, bins=bins, density=True, alpha=0.5, label=f"generated ({len(ge)})")
        if not len(ge):
            ax.text(0.5, 0.9, "no valid generated MOF", transform=ax.transAxes, ha="center")
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sample_geometry(coarse: pd.DataFrame, assembled: pd.DataFrame, seed: int = 0) -> dict:
    """How far the network and then the assembly fit moved the blocks (A; None where a table
    lacks the columns).

    ``shift``: median over samples of ``sampler_shift`` (RMS distance from the sampler's initial
    uniform draw to the sampled centres); ``redraw``: the same for a second uniform draw (seeded),
    the scale of a shift that forgets the start; ``repair`` and ``repair_p90``: median and 90th
    percentile of the assembly fit's ``repair_rms`` over the built structures; ``enlarged`` and
    ``shrunk``: cells the sampler scaled into the training atom densities (``cell_scale``), with
    the median scale of each group (``enlarged_scale``, ``shrunk_scale``).
    """
    from mof.periodic import minimum_image

    out: dict = {"shift": None, "redraw": None, "repair": None, "repair_p90": None, "built": 0}
    if len(coarse) and "sampler_shift" in coarse:
        out["shift"] = float(np.median(coarse["sampler_shift"]))
    scale = coarse["cell_scale"].to_numpy(float) if "cell_scale" in coarse else np.ones(len(coarse))
    if len(coarse) and "cell_scale" in coarse:
        for key, sel in (("enlarged", scale > 1.0), ("shrunk", scale < 1.0)):
            out[key] = int(sel.sum())
            out[f"{key}_scale"] = float(np.median(scale[sel])) if sel.any() else None
    if len(coarse) and {"initial_centres_frac", "lattice"} <= set(coarse.columns):
        rng = np.random.default_rng(seed)
        redraw = []
        for start, lattice, s in zip(coarse["initial_centres_frac"], coarse["lattice"], scale):
            start = np.asarray(start, dtype=float).reshape(-1, 3)
            sampled = np.reshape(lattice, (3, 3)) / s  # the cell the network drew
            _, d = minimum_image(rng.random(start.shape) - start, sampled)
            redraw.append(float(np.sqrt((d**2).sum(-1).mean())))
        out["redraw"] = float(np.median(redraw))
    if len(assembled) and {"repair_rms", "cif"} <= set(assembled.columns):
        rep = assembled.loc[assembled["cif"].notna(), "repair_rms"].dropna().to_numpy(float)
        if len(rep):
            out.update(repair=float(np.median(rep)), repair_p90=float(np.percentile(rep, 90)))
            out["built"] = len(rep)
    return out


def geometry_text(g: dict) -> str:
    """The report's paragraph on :func:`sample_geometry`."""
    parts = []
    if g["shift"] is not None:
        far = f"; a second uniform draw lies {g['redraw']:.2f} A from it" if g["redraw"] else ""
        parts.append(
            f"The network moved the sampled centres {g['shift']:.2f} A (RMS per sample, median) "
            f"from the sampler's initial uniform draw{far}. This measures what the network has "
            "learned about where blocks go: a network that predicts no motion leaves the initial "
            "draw as it is (0 A)."
        )
    if g.get("enlarged") or g.get("shrunk"):
        moved = [
            f"{g[k]} {k} (median length scale {g[f'{k}_scale']:.2f})"
            for k in ("enlarged", "shrunk")
            if g[k]
        ]
        parts.append(
            f"The sampler scaled cells into the training MOFs' atom densities: {', '.join(moved)}."
        )
    if g["repair"] is not None:
        parts.append(
            f"The assembly fit then moved the blocks {g['repair']:.2f} A (RMS per structure, "
            f"median; p90 {g['repair_p90']:.2f} A) over {g['built']} built structures."
        )
    return " ".join(parts) if parts else "Not recorded in this run's tables."


def relaxation_summary(relaxed: pd.DataFrame) -> pd.DataFrame:
    """One row per relaxation outcome (relaxed, not_converged, symmetry_broken, topology_changed,
    then each failure reason): count, median seconds, and for relaxed structures the median energy
    drop and volume change."""
    rows = []
    if len(relaxed):
        ok = relaxed[relaxed["status"] == "relaxed"]
        drop = (ok["energy_initial"] - ok["energy_final"]).astype(float)
        rows.append(
            (
                "relaxed",
                len(ok),
                f"{ok['seconds'].median():.1f}" if len(ok) else "",
                f"{drop.median():.3f}" if len(ok) else "",
                f"{100 * ok['volume_change'].astype(float).median():+.1f}%" if len(ok) else "",
            )
        )
        # not_converged, symmetry_broken and topology_changed (a relaxed CIF, validated too),
        # then the failures by reason
        others = relaxed[relaxed["status"] != "relaxed"]
        label = others["status"].where(others["status"] != "failed", "failed: " + others["reason"])
        groups = dict(list(others.groupby(label)))
        for name in sorted(groups, key=lambda k: (k.startswith("failed"), k)):
            grp = groups[name]
            rows.append((name, len(grp), f"{grp['seconds'].median():.1f}", "", ""))
    return pd.DataFrame(
        rows,
        columns=[
            "outcome",
            "count",
            "median s",
            "median energy drop (kcal/mol/atom)",
            "median volume change",
        ],
    )


def balanced(assembled: pd.DataFrame) -> pd.Series:
    """Per row of an assembly table: node and linker connection points are equal (and some)."""
    if not len(assembled):
        return pd.Series([], dtype=bool)
    return (assembled["n_cp_node"] == assembled["n_cp_linker"]) & (assembled["n_cp_node"] > 0)


def build_report(
    coarse: pd.DataFrame,
    assembled: pd.DataFrame,
    relaxed: pd.DataFrame,
    validation: pd.DataFrame,
    structures: pd.DataFrame,
    mofs: pd.DataFrame,
    cif_dir: str | Path,
    run: str,
    out_dir: str | Path,
    *,
    min_pld: float,
) -> dict:
    """Write tables.md, funnel.csv, relax.csv, checks.csv, novelty.csv and properties.png into
    out_dir. ``cif_dir`` holds the relaxed CIFs named in ``relaxed['cif']``; ``min_pld`` is the
    ``validate.min_pld`` the validation ran with (Angstrom), named in the tables."""
    from mof.validate import CHECK_COLUMNS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_sampled = len(coarse)
    status = assembled["status"] if len(assembled) else pd.Series([], dtype=str)
    n_assembled = int((status == "assembled").sum())
    n_handed = int(status.isin(["assembled", "bonded"]).sum())
    n_balanced = int(balanced(assembled).sum())
    from mof.validate import RELAXED_OUTCOMES

    rstatus = relaxed["status"] if len(relaxed) else pd.Series([], dtype=str)
    n_with_cif = int(rstatus.isin(RELAXED_OUTCOMES).sum())
    n_relaxed = int((rstatus == "relaxed").sum())
    valid = validation[validation["valid"].astype(bool)] if len(validation) else validation
    status_of = dict(zip(relaxed["sample_id"], rstatus))
    valid_ids = list(valid["sample_id"]) if len(valid) else []
    strict = {s for s in valid_ids if status_of.get(s) == "relaxed"}
    # novelty / uniqueness of the valid samples
    key_of = dict(zip(coarse["sample_id"], coarse["block_ids"].apply(block_key)))
    st = structures.set_index("id")
    train_ids = set(mofs.loc[mofs["split"] == "train", "id"])
    training: dict[str, list] = {}
    for r in mofs[mofs["id"].isin(train_ids)].itertuples():
        row = st.loc[r.id]
        training.setdefault(block_key(r.block_ids), []).append(
            structure(row["lattice"], row["species"], row["frac_coords"])
        )
    samples = {}
    cif_of = dict(zip(relaxed["sample_id"], relaxed["cif"])) if len(relaxed) else {}
    from mof.io import read_cif

    for sid in valid["sample_id"] if len(valid) else []:
        cr = read_cif(Path(cif_dir) / cif_of[sid])
        samples[sid] = (key_of.get(sid, ""), structure(cr.lattice, cr.species, cr.frac))
    nov = novelty_uniqueness(samples, training)
    n_valid = len(valid)
    n_novel = int(nov["novel"].sum()) if len(nov) else 0
    n_vnu = int((nov["novel"] & nov["unique"]).sum()) if len(nov) else 0
    # the strict chain: valid samples whose relaxation converged and kept the bond graph;
    # uniqueness is judged among those alone
    # novelty does not depend on the other samples: the strict novel ones are matched only with
    # each other (no training structures) to find the unique ones
    novel_ids = set(nov.loc[nov["novel"], "sample_id"]) if len(nov) else set()
    strict_novel = {k: v for k, v in samples.items() if k in strict and k in novel_ids}
    nov_strict = novelty_uniqueness(strict_novel, {})
    n_valid_strict = len(strict)
    n_valid_contacts = (
        int(valid["ok_contacts"].astype(bool).sum()) if len(valid) and "ok_contacts" in valid else 0
    )
    n_vnu_strict = int(nov_strict["unique"].sum()) if len(nov_strict) else 0

    def pct(x):
        return f"{100 * x / n_sampled:.1f}%" if n_sampled else "-"

    funnel = pd.DataFrame(
        [
            ("sampled", str(n_sampled), pct(n_sampled), "every sample of this run"),
            (
                "balanced",
                str(n_balanced),
                pct(n_balanced),
                "node and linker connection points equal",
            ),
            (
                "assembled (strict)",
                str(n_assembled),
                pct(n_assembled),
                "every pair of connection points meets, no clash",
            ),
            (
                "assembled or bonded",
                str(n_handed),
                pct(n_handed),
                "all points paired and bonded (gaps allowed): handed to relaxation, as in MOFDiff",
            ),
            (
                "relaxation finished",
                str(n_with_cif),
                pct(n_with_cif),
                "a relaxed CIF: relaxed, not_converged, topology_changed or symmetry_broken "
                "(validated)",
            ),
            (
                "relaxed (strict)",
                str(n_relaxed),
                pct(n_relaxed),
                "converged and kept the bond graph it was given",
            ),
            (
                "valid",
                str(n_valid),
                pct(n_valid),
                "MOFChecker + PLD after relaxation: comparable with MOFDiff's 30.1%",
            ),
            (
                "valid, no close contacts",
                str(n_valid_contacts),
                pct(n_valid_contacts),
                "valid, and no two atoms closer than validate.min_contact_ratio x the sum of "
                "their covalent radii (MOFChecker passes such contacts): no published counterpart",
            ),
            ("valid + novel", str(n_novel), pct(n_novel), ""),
            (
                "valid + novel + unique",
                str(n_vnu),
                pct(n_vnu),
                "comparable with MOFDiff / Mofasa VNU",
            ),
            (
                "valid (strict)",
                str(n_valid_strict),
                pct(n_valid_strict),
                "valid and relaxed (strict): no published counterpart",
            ),
            (
                "valid + novel + unique (strict)",
                str(n_vnu_strict),
                pct(n_vnu_strict),
                "",
            ),
        ],
        columns=["stage", "count", "% of sampled", "meaning"],
    )
    checks = pd.DataFrame(
        {
            "check": [c.removeprefix("ok_") for c in CHECK_COLUMNS] + [f"pld>={min_pld:g}"],
            "failed": [
                int((validation[c] == False).sum()) if len(validation) else 0  # noqa: E712
                for c in CHECK_COLUMNS
            ]
            + [int((~validation["ok_pld"].astype(bool)).sum()) if len(validation) else 0],
            "not run / error": [
                int(validation[c].isna().sum()) if len(validation) else 0 for c in CHECK_COLUMNS
            ]
            + [0],
        }
    )
    if len(validation) and "ok_contacts" in validation:
        screened = validation["contact_ratio"].notna() | validation["ok_contacts"].astype(bool)
        checks.loc[len(checks)] = [
            "close contacts (not part of valid)",
            int((screened & ~validation["ok_contacts"].astype(bool)).sum()),
            int((~screened).sum()),
        ]
    relax_table = relaxation_summary(relaxed)
    funnel.to_csv(out / "funnel.csv", index=False)
    relax_table.to_csv(out / "relax.csv", index=False)
    checks.to_csv(out / "checks.csv", index=False)
    nov.to_csv(out / "novelty.csv", index=False)
    train_props = structures[structures["split"] == "train"]
    plot_properties(valid, train_props, out / "properties.png")

    def md(df: pd.DataFrame) -> str:
        cols = list(df.columns)
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in df.itertuples(index=False):
            lines.append(
                "| "
                + " | ".join(
                    "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in r
                )
                + " |"
            )
        return "\n".join(lines)

    ref = pd.DataFrame(
        [
            (
                m,
                s if s is not None else "",
                v if isinstance(v, str) else f"{v} ({100 * v / s:.1f}%)",
                u if isinstance(u, str) else f"{u} ({100 * u / s:.1f}%)",
                note,
            )
            for m, s, v, u, note in REFERENCES
        ],
        columns=["method", "sampled", "valid", "valid + novel + unique", "note"],
    )
    composition = composition_text(
        list(coarse["block_ids"]), list(mofs.loc[mofs["split"] == "train", "block_ids"])
    )
    text = f"""# Generation report: run `{run}`

## Funnel

{md(funnel)}

Published reference rows:

{md(ref)}

Valid: every MOFChecker check MOFDiff counted passes and the zeo++ pore-limiting diameter is at
least {min_pld:g} A (`validate.min_pld`). Novel / unique: two structures are the same when
their building-block keys (the multiset of building-block identities, reduced by the gcd of the
counts) are equal and pymatgen's StructureMatcher (default tolerances) matches them; novel = the
same as no training MOF (of {len(train_ids)}), unique = the first of each group of equal novel
samples.

Comparable with MOFDiff (30.1% valid of 10,000 samples): the `valid` row as a share of all
samples, which is how MOFDiff counts (validity after UFF relaxation of every structure the
relaxation returns, every sample in the denominator, structures with gaps handed to relaxation
with their bonds). The `(strict)` rows have no published counterpart: `assembled (strict)` needs
every pair of connection points to meet before relaxation, `relaxed (strict)` a converged
relaxation that kept the assembly's bond graph (MOFDiff checks neither), and `valid (strict)`
both a strict relaxation and validity.

## Geometry of the samples

{geometry_text(sample_geometry(coarse, assembled))}

## Composition of the samples

{composition}

## Relaxation (UFF4MOF / UFF with LAMMPS, of {n_handed} assembled or bonded structures)

{md(relax_table)}

## Failed checks (of {len(validation)} validated structures: every relaxed CIF)

{md(checks)}

## Properties

Generated (valid) versus training distributions: `properties.png` (LCD, PLD, accessible surface
area, void fraction, density; training values from the CoRE MOF CSV).
"""
    (out / "tables.md").write_text(text)
    return {
        "sampled": n_sampled,
        "balanced": n_balanced,
        "assembled": n_assembled,
        "bonded": n_handed,
        "relaxation_finished": n_with_cif,
        "relaxed": n_relaxed,
        "valid": n_valid,
        "novel": n_novel,
        "vnu": n_vnu,
        "valid_strict": n_valid_strict,
        "vnu_strict": n_vnu_strict,
        "valid_contacts": n_valid_contacts,
    }


def run(
    inputs: dict,
    outputs: dict,
    cfg: dict,
    *,
    threads: int = 1,
    say=print,
    run_name: str = "default",
) -> dict:
    """The report stage. ``inputs``: coarse, assembled, relaxed, cifs (relaxed CIFs), validation,
    structures, mofs; ``outputs``: ``tables`` (tables.md; the other files are written beside
    it); ``cfg``: the ``validate`` config section (its ``min_pld`` is the PLD criterion).
    Returns the funnel's counts (:func:`build_report`)."""
    from pathlib import Path

    from mof.stage import config_defaults

    out_dir = str(Path(outputs["tables"]).parent)
    min_pld = {**config_defaults("validate"), **(cfg or {})}["min_pld"]
    from mof.tables import read_table

    res = build_report(
        read_table(inputs["coarse"]),
        read_table(inputs["assembled"]),
        read_table(inputs["relaxed"]),
        read_table(inputs["validation"]),
        read_table(inputs["structures"]),
        read_table(inputs["mofs"]),
        inputs["cifs"],
        run_name,
        out_dir,
        min_pld=min_pld,
    )
    say(
        f"[report] {run_name}: sampled {res['sampled']} -> balanced {res['balanced']} -> "
        f"assembled {res['assembled']} (strict), {res['bonded']} with the bonded hand-off -> "
        f"relaxation finished {res['relaxation_finished']} ({res['relaxed']} strictly) -> "
        f"valid {res['valid']} ({res['valid_contacts']} with no close contacts) -> "
        f"novel {res['novel']} -> unique {res['vnu']} "
        f"(strict: valid {res['valid_strict']}, unique {res['vnu_strict']}); "
        f"tables in {out_dir}/tables.md"
    )
    return res
