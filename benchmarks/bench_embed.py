"""Benchmark of the building-block embedding on the default dataset (config.yaml).

Selects and decomposes the default CoRE MOF sample, trains the embedding with the default
settings, and prints: held-out top-1 retrieval accuracy of the fingerprint class (instances of
val/test MOFs against the library of training building blocks; instances whose class has no
training example cannot be retrieved and are counted separately), training time, and embedding
throughput (building blocks per second, inference, on --threads CPU threads).

    .venv/bin/python benchmarks/bench_embed.py --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from model.embed import EmbedConfig, encode, instance_graphs, load_encoder, output_paths, run
from mof.dataset import DatasetConfig, select_dataset
from mof.io import read_yaml
from mof.preprocess import decompose_all, params_from_config, tables
from mof.tables import read_table, write_table

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="override embed.steps")
    args = ap.parse_args()
    cfg = read_yaml(REPO / "config.yaml")
    torch.set_num_threads(args.threads)

    structures, summary = select_dataset(DatasetConfig.from_dict(cfg["dataset"]), progress=False)
    print(summary)
    decs, rejects = decompose_all(
        structures, params_from_config(cfg["preprocess"]), processes=args.threads, progress=False
    )
    _, inst, _ = tables(decs, structures)
    ecfg = dict(cfg["embed"])
    if args.steps:
        ecfg["steps"] = args.steps
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_table(inst, tmp / "inst.parquet")
        out = output_paths(tmp)
        metrics = run(str(tmp / "inst.parquet"), out, ecfg, threads=args.threads)
        model, ec = load_encoder(out["encoder"])
        graphs = instance_graphs(read_table(tmp / "inst.parquet"), ec.cutoff)
        encode(model, graphs[:256])  # warm-up
        t0 = time.perf_counter()
        encode(model, graphs)
        dt = time.perf_counter() - t0

    print(
        f"\ndefault dataset: {len(decs)} MOFs, {len(inst)} building-block instances, "
        f"{metrics['fingerprint_classes']} fingerprint classes, library "
        f"{metrics['library_size']} (training MOFs)"
    )
    print(
        f"held-out top-1 fingerprint accuracy: "
        f"{100 * metrics['heldout_top1_fingerprint_accuracy']:.1f}% on "
        f"{metrics['heldout_instances_evaluated']} instances whose class is in the library "
        f"({metrics['heldout_instances_total'] - metrics['heldout_instances_evaluated']} more "
        f"held-out instances have a class never seen in training)"
    )
    print(
        f"training: {ecfg['steps']} steps, batch {EmbedConfig.from_dict(ecfg).batch_size}, "
        f"{metrics['seconds']:.0f} s on {metrics['device']} ({args.threads} threads)"
    )
    print(
        f"embedding throughput: {len(graphs) / dt:.0f} building blocks/s "
        f"({len(graphs)} in {dt:.2f} s, {args.threads} threads)"
    )


if __name__ == "__main__":
    main()
