"""The generation benchmark: sample -> assemble -> relax -> validate -> novelty, with the
pipeline's own stage code, from a trained model.

Needs the tables of a run (the README's main command writes them under ``results/``): the
preprocessing tables, the embedding library and a trained denoiser (``--model`` to try another
one, e.g. from ``python -m model.train``). Settings are those of ``config.yaml`` (``--config``),
changed with ``--set section.key=value``. Prints the funnel (sampled, balanced, assembled
(strict), bonded, relaxation finished, relaxed (strict), valid, novel, unique), the median and p90
repair displacement of the assembly fit, the share of samples whose building-block multiset equals
a training MOF's (memorisation), how far the network moved the centres from the sampler's initial
uniform draw, how many cells the sampler scaled into the training atom densities, and the seconds
each stage took. ``--random-centres SEED`` replaces every sampled
centre by a uniform random one before assembly (an ablation of the model's placement).
``--reuse DIR`` takes the samples and assemblies of an earlier ``--out DIR`` and runs only
relaxation, validation and the report (to measure a change to those stages on the same input).
Everything is written under ``--out`` (the report's tables in ``<out>/report/tables.md``).

    .venv/bin/python benchmarks/bench_generate.py --n 64
    .venv/bin/python benchmarks/bench_generate.py --n 64 --set sample.decode_top_k=10
    .venv/bin/python benchmarks/bench_generate.py --reuse bench_generate --out b2 --set relax.X=Y
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import yaml

from mof.cli import _setting
from mof.composition import composition_text, metal_counts, metals_of

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("sample", "assemble", "relax", "validate")


def settings(config: Path, overrides: list[tuple[str, object]]) -> dict[str, dict]:
    """The config sections the benchmark uses, from ``config`` with ``section.key`` overrides."""
    cfg = yaml.safe_load(config.read_text()) or {}
    out = {s: dict(cfg.get(s) or {}) for s in SECTIONS}
    for key, value in overrides:
        section, dot, name = key.partition(".")
        if not dot or section not in out:
            raise SystemExit(f"--set {key}: expected one of {', '.join(SECTIONS)} then .key")
        out[section][name] = value
    return out


def _run_stage(module: str, inputs: dict, outputs: dict, cfg: dict, threads: int) -> None:
    import importlib

    importlib.import_module(module).run(inputs, outputs, cfg, threads=threads, say=print)


def run_stage(module: str, inputs: dict, outputs: dict, cfg: dict, threads: int) -> None:
    """A stage's ``run`` in a fresh process, as Snakemake runs it: forking worker pools from a
    process whose torch threads have run (sampling) can deadlock."""
    from multiprocessing import get_context

    proc = get_context("spawn").Process(
        target=_run_stage, args=(module, inputs, outputs, cfg, threads)
    )
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"stage {module} failed (exit code {proc.exitcode})")


def memorised_share(coarse, mofs) -> float:
    """Share of samples whose building-block multiset (reduced by the gcd of its counts) equals
    that of a training MOF."""
    from mof.novelty import block_key

    train = {block_key(b) for b in mofs.loc[mofs["split"] == "train", "block_ids"]}
    keys = [block_key(b) for b in coarse["block_ids"]]
    return float(np.mean([k in train for k in keys])) if keys else 0.0


def randomise_centres(path: Path, seed: int) -> None:
    """Replace the ``centres_frac`` of every sample in the coarse table at ``path`` by uniform
    random fractional coordinates (one generator, ``seed``, rows in order)."""
    from mof.tables import read_table, to_cell, write_table

    coarse = read_table(path)
    rng = np.random.default_rng(seed)
    coarse["centres_frac"] = [to_cell(rng.random((int(k), 3))) for k in coarse["n_blocks"]]
    write_table(coarse, path)


def reuse_assemblies(src: Path, out: Path) -> None:
    """Copy the samples, the assembly table and its CIFs of an earlier run's ``--out``."""
    if src.resolve() == out.resolve():
        raise SystemExit("--reuse needs another --out than the folder it reuses")
    for name in ("coarse.parquet", "assembled.parquet"):
        if not (src / name).exists():
            raise SystemExit(f"--reuse {src}: {name} is missing (not a bench_generate --out)")
        shutil.copy2(src / name, out / name)
    shutil.rmtree(out / "assembled_cif", ignore_errors=True)
    shutil.copytree(src / "assembled_cif", out / "assembled_cif")


def sample_and_assemble(stage, p: dict, out: Path, res: Path, model: Path, random_centres) -> None:
    """The sampling and assembly stages of the benchmark (``stage`` runs and times one)."""
    stage(
        "sample",
        "model.sample",
        {
            "model": str(model),
            "embeddings": str(res / "embed" / "embeddings.parquet"),
            "blocks": str(res / "embed" / "library_blocks.parquet"),
            "instances": str(res / "preprocess" / "block_instances.parquet"),
            "mofs": str(res / "preprocess" / "mofs.parquet"),
        },
        {"coarse": str(p["coarse"]) + ".parquet"},
        "sample",
    )
    if random_centres is not None:
        randomise_centres(Path(str(p["coarse"]) + ".parquet"), random_centres)
    stage(
        "assemble",
        "mof.assemble",
        {
            "coarse": str(p["coarse"]) + ".parquet",
            "blocks": str(res / "embed" / "library_blocks.parquet"),
            "instances": str(res / "preprocess" / "block_instances.parquet"),
        },
        {"table": str(p["assembled"]) + ".parquet", "cifs": str(out / "assembled_cif")},
        "assemble",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--results", default=str(REPO / "results"), help="a run's results folder")
    ap.add_argument("--model", default=None, help="default: <results>/train/denoiser.pt")
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--n", type=int, default=64, help="samples (sets sample.n)")
    ap.add_argument("--out", default="/tmp/bench_generate")
    ap.add_argument("--processes", type=int, default=2, help="threads / processes per stage")
    ap.add_argument("--no-relax", action="store_true", help="stop after assembly")
    ap.add_argument(
        "--random-centres",
        type=int,
        default=None,
        metavar="SEED",
        help="ablation: replace every sampled centre by a uniform random one (this seed), "
        "keeping the sampled blocks, shapes and lattice, to see what the model's placement adds",
    )
    ap.add_argument(
        "--reuse",
        default=None,
        metavar="DIR",
        help="the --out of an earlier run: its samples and assemblies are copied, and only "
        "relaxation, validation and the report run (sampling and assembly settings are ignored)",
    )
    ap.add_argument(
        "--set",
        type=_setting,
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="change a setting of config.yaml, e.g. sample.steps=200",
    )
    args = ap.parse_args()
    if args.reuse and args.random_centres is not None:
        ap.error("--random-centres acts before assembly: it cannot go with --reuse")
    res, out = Path(args.results), Path(args.out)
    model = Path(args.model) if args.model else res / "train" / "denoiser.pt"
    for need in (
        model,
        res / "embed" / "library_blocks.parquet",
        res / "preprocess" / "mofs.parquet",
    ):
        if not need.exists():
            ap.error(f"{need} is missing: run the README's main command first (or pass --results)")
    cfg = settings(Path(args.config), [("sample.n", args.n), *args.set])
    out.mkdir(parents=True, exist_ok=True)

    from mof import report
    from mof.tables import read_table

    times: dict[str, float] = {}

    def stage(name, module, inputs, outputs, section):
        t0 = time.perf_counter()
        run_stage(module, inputs, outputs, cfg[section], args.processes)
        times[name] = time.perf_counter() - t0

    p = {k: out / k for k in ("coarse", "assembled", "relaxed", "validation")}
    if args.reuse:
        reuse_assemblies(Path(args.reuse), out)
    else:
        sample_and_assemble(stage, p, out, res, model, args.random_centres)
    coarse = read_table(str(p["coarse"]) + ".parquet")
    assembled = read_table(str(p["assembled"]) + ".parquet")
    mofs = read_table(res / "preprocess" / "mofs.parquet")
    if not args.no_relax:
        stage(
            "relax",
            "mof.relax",
            {"table": str(p["assembled"]) + ".parquet", "cifs": str(out / "assembled_cif")},
            {"table": str(p["relaxed"]) + ".parquet", "cifs": str(out / "relaxed_cif")},
            "relax",
        )
        stage(
            "validate",
            "mof.validate",
            {"table": str(p["relaxed"]) + ".parquet", "cifs": str(out / "relaxed_cif")},
            {"table": str(p["validation"]) + ".parquet"},
            "validate",
        )
        t0 = time.perf_counter()
        funnel = report.run(
            {
                "coarse": str(p["coarse"]) + ".parquet",
                "assembled": str(p["assembled"]) + ".parquet",
                "relaxed": str(p["relaxed"]) + ".parquet",
                "cifs": str(out / "relaxed_cif"),
                "validation": str(p["validation"]) + ".parquet",
                "structures": str(res / "dataset" / "structures.parquet"),
                "mofs": str(res / "preprocess" / "mofs.parquet"),
            },
            {"tables": str(out / "report" / "tables.md")},
            cfg["validate"],
            say=print,
            run_name="bench_generate",
        )
        times["novelty + report"] = time.perf_counter() - t0

    n = len(coarse)

    def row(name: str, count: int) -> str:
        return f"  {name:<34} {count:>6}  {100 * count / n if n else 0:5.1f}%"

    print(f"\nmodel {model}; {n} samples; settings {dict(args.set) or 'config.yaml'}")
    if args.random_centres is not None:
        print(
            f"ablation: every centre replaced by a uniform random one (seed {args.random_centres})"
        )
    print("funnel (share of all samples):")
    status = assembled["status"]
    print(row("sampled", n))
    print(row("balanced", int(report.balanced(assembled).sum())))
    print(row("assembled (strict)", int((status == "assembled").sum())))
    print(row("bonded (to relaxation with gaps)", int((status == "bonded").sum())))
    if not args.no_relax:
        for key, name in (
            ("relaxation_finished", "relaxation finished"),
            ("relaxed", "relaxed (strict)"),
            ("valid", "valid (MOFDiff's definition)"),
            ("valid_contacts", "valid, no close contacts"),
            ("novel", "valid + novel"),
            ("vnu", "valid + novel + unique"),
            ("valid_strict", "valid (strict)"),
        ):
            print(row(name, int(funnel[key])))
    geometry = report.sample_geometry(coarse, assembled)
    if geometry["repair"] is not None:
        print(
            "repair (RMS block-centre displacement of the fit): "
            f"median {geometry['repair']:.2f} A, p90 {geometry['repair_p90']:.2f} A "
            f"over {geometry['built']} built structures"
        )
    if geometry["shift"] is not None:
        print(
            f"sampler shift: the network moved the centres {geometry['shift']:.2f} A (RMS, median) "
            f"from their initial uniform draw; a second uniform draw lies "
            f"{geometry['redraw']:.2f} A from it"
        )
    if "enlarged" in geometry:
        print(
            f"cells scaled into the training atom densities: {geometry['enlarged']} enlarged, "
            f"{geometry['shrunk']} shrunk (of {len(coarse)})"
        )
    print(
        f"memorisation: {100 * memorised_share(coarse, mofs):.1f}% of samples have the "
        "building-block multiset of a training MOF"
    )
    lib = read_table(res / "embed" / "library_blocks.parquet", columns=["block_id", "elements"])
    metals = {b: metals_of(e) for b, e in zip(lib["block_id"], lib["elements"])}
    train = list(mofs.loc[mofs["split"] == "train", "block_ids"])
    samples = list(coarse["block_ids"])

    def shares(c: dict[str, float]) -> str:
        return ", ".join(f"{k}: {100 * v:.0f}%" for k, v in c.items())

    print(
        f"metal elements per structure: samples {shares(metal_counts(samples, metals))}; "
        f"training MOFs {shares(metal_counts(train, metals))}"
    )
    print(composition_text(samples, train))
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))


if __name__ == "__main__":
    main()
