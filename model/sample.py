"""The sample_coarse stage: draw coarse MOFs from the trained diffusion model and decode each
sampled embedding to the nearest building block of the library.

``results/sample/{run}/coarse.parquet``, one row per sample:

==================  ==========================================================================
sample_id           ``{run}-{index:05d}``
n_blocks            K (drawn from the training distribution of K)
lattice             9 floats, (3, 3) row-vector lattice (canonical orientation), Angstrom
lattice_params      a, b, c (A), alpha, beta, gamma (degrees)
cell_scale          length scale applied to the sampled cell to bring the decoded blocks' atom
                    density into the training range (1: unchanged; below)
atom_density        atoms of the decoded blocks per 1000 A^3 of the (scaled) cell
centres_frac        3 K floats, Gaussian centres, fractional
initial_centres_frac  3 K floats, the uniform draw the sampler started the centres from
sampler_shift       RMS distance (A, minimum image in the sampled cell) from the initial draw to
                    the sampled centres: how far the network moved the blocks
sigmas              9 K floats, (K, 3, 3) Gaussian shapes, Angstrom^2
embeddings          K d floats, (K, d) sampled building-block embeddings
block_ids           K decoded library building blocks (below)
block_kinds         K node / linker
decode_distance     K distances to the chosen library vectors
n_redecoded         blocks that are not the nearest one (balanced decoding, below)
n_cp_node           connection points on the decoded nodes
n_cp_linker         connection points on the decoded linkers
compatible          the two counts are equal (every node point can meet a linker point)
note                why not, when not compatible
metals              the metal combination the nodes were decoded within (";"-joined, or empty)
==================  ==========================================================================

Decoding (:mod:`model.decode`): ``decode_top_k = 1`` decodes every sampled embedding to its
nearest library block; with ``decode_top_k = k > 1`` (the default, 5) each Gaussian gets one of
its k nearest blocks so that the sample has a node and a linker and as many connection points on
nodes as on linkers; with ``coherent_metals`` the node blocks of a sample also carry the metals
of one combination seen in a training MOF (``metals``; empty when the rule is off or no
combination balances); with ``max_distinct = m`` (the default, 3) a sample holds at most m
distinct blocks, as real MOFs repeat theirs (0: no limit); with ``require_organic`` a sample
holds a block with carbon and hydrogen; with ``exclude_undercoordinated`` no sample is decoded
to a block with an atom MOFChecker's coordination rules flag (:mod:`mof.blockcheck`).
``n_redecoded`` counts the Gaussians that did not get
their nearest block.

Cell volume (:mod:`mof.density`): with ``density_quantiles = [lower, upper]`` a sample whose
decoded blocks are denser (sparser) in the sampled cell than that quantile of the training MOFs'
atom densities has its cell scaled isotropically to the bound; fractional centres and the cell's
shape are kept. The default, [0.0, 0.5], enlarges cells denser than the training median and
shrinks only cells sparser than every training MOF (``null``: cells as sampled).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from model.checkpoint import embeddings_fingerprint, load_model
from model.config import SampleConfig
from model.decode import BlockDecoder, training_metal_sets
from model.diffusion import CoarseSampler
from model.index import NearestBlockIndex
from mof.blockcheck import flagged_blocks
from mof.composition import metals_of
from mof.density import atom_density, density_bounds, scale_to_density
from mof.periodic import minimum_image
from mof.tables import to_cell


def sample_coarse(
    model_path: str,
    embeddings: pd.DataFrame,
    building_blocks: pd.DataFrame,
    n: int,
    batch_size: int,
    seed: int,
    steps: int,
    run: str = "run",
    device: str = "auto",
    progress: bool = True,
    decode_top_k: int = 5,
    mu_noise_scale: float = 0.0,
    s_noise_scale: float = 1.0,
    instances: pd.DataFrame | None = None,
    coherent_metals: bool = False,
    max_distinct: int = 3,
    require_organic: bool = False,
    exclude_undercoordinated: bool = False,
    density_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Sample ``n`` coarse MOFs and decode them (see the module docstring for the columns).
    ``coherent_metals`` needs ``instances`` (``mof_id``, ``block_id``, ``split``: which blocks
    each training MOF has), from which the allowed metal combinations are read;
    ``density_range``: atom densities (per 1000 A^3) the decoded blocks' cells are scaled into
    (None: cells as sampled)."""
    dev = torch.device(
        "cuda"
        if device == "auto" and torch.cuda.is_available()
        else ("cpu" if device == "auto" else device)
    )
    model, _, state = load_model(model_path, device=dev)
    fp = embeddings_fingerprint(embeddings)
    if state.get("embeddings_hash") != fp:
        raise ValueError(
            f"{model_path} was trained on another embedding table than the one given "
            f"({state.get('embeddings_hash')} != {fp}); retrain it "
            "(snakemake --forcerun train_diffusion) or point the sampler at the right table"
        )
    if exclude_undercoordinated:  # blocks MOFChecker would flag are not decoded to
        bad = flagged_blocks(building_blocks)
        embeddings = embeddings.assign(
            in_library=embeddings["in_library"] & ~embeddings["block_id"].isin(bad)
        )
    lib = embeddings[embeddings["in_library"]]
    kind_of = dict(zip(lib["block_id"], lib["kind"]))
    ncp = dict(zip(building_blocks["block_id"], building_blocks["n_connections"]))
    atoms = dict(zip(building_blocks["block_id"], building_blocks["n_atoms"]))
    els = dict(zip(building_blocks["block_id"], building_blocks["elements"]))
    metals = {
        b: metals_of(els[b]) if kind_of[b] == "node" and b in els else frozenset()
        for b in lib["block_id"]
    }
    sets = None
    if coherent_metals:
        if instances is None:
            raise ValueError("coherent_metals needs the block instances of the training MOFs")
        sets = training_metal_sets(instances, metals)
    decoder = BlockDecoder(
        NearestBlockIndex.from_table(embeddings),
        [kind_of[b] for b in lib["block_id"]],
        [int(ncp[b]) for b in lib["block_id"]],
        [metals[b] for b in lib["block_id"]],
        top_k=decode_top_k,
        metal_sets=sets,
        max_distinct=max_distinct,
        organic=(
            [{"C", "H"} <= set(els.get(b, ())) for b in lib["block_id"]]
            if require_organic
            else None
        ),
    )
    sampler = CoarseSampler(
        model, steps=steps, mu_noise_scale=mu_noise_scale, s_noise_scale=s_noise_scale
    )
    rows = []
    n_batches = (n + batch_size - 1) // batch_size
    bar = tqdm(
        range(n_batches),
        desc="sample: batches",
        unit="batch",
        file=sys.stderr,
        disable=not progress,
    )
    for bi in bar:
        gen = torch.Generator().manual_seed(int(seed) * 100_003 + bi)
        size = min(batch_size, n - bi * batch_size)
        ks = sampler.sample_k(size, gen)
        out = sampler.sample(ks, gen, device=dev)
        for j, k in enumerate(ks):
            emb = out["s"][j, :k].numpy()
            dec = decoder.decode(emb)
            ids, dist = dec.ids, dec.distance
            kinds = [kind_of[b] for b in ids]
            n_node = int(sum(ncp[b] for b, kd in zip(ids, kinds) if kd == "node"))
            n_link = int(sum(ncp[b] for b, kd in zip(ids, kinds) if kd != "node"))
            lattice = out["lattice"][j].numpy().astype(float)
            start = out["mu_init"][j, :k].numpy().astype(float)
            # the network's motion, in the cell it sampled
            _, moved = minimum_image(out["mu"][j, :k].numpy() - start, lattice)
            params = out["params"][j].numpy().astype(float)
            n_atoms = int(sum(atoms[b] for b in ids))
            scale = 1.0
            if density_range is not None:
                lattice, scale = scale_to_density(lattice, n_atoms, *density_range)
                params[:3] *= scale
            note = (
                ""
                if n_node == n_link
                else (
                    f"decoded blocks do not balance: {n_node} connection points on nodes, "
                    f"{n_link} on linkers"
                )
            )
            if "node" not in kinds or "linker" not in kinds:
                note = (note + "; " if note else "") + "decoded blocks lack a node or a linker"
            rows.append(
                {
                    "sample_id": f"{run}-{bi * batch_size + j:05d}",
                    "n_blocks": k,
                    "lattice": to_cell(lattice),
                    "lattice_params": params.tolist(),
                    "cell_scale": scale,
                    "atom_density": atom_density(n_atoms, lattice),
                    "centres_frac": to_cell(out["mu"][j, :k]),
                    "initial_centres_frac": to_cell(start),
                    "sampler_shift": float(np.sqrt((moved**2).sum(-1).mean())),
                    "sigmas": to_cell(out["sigma"][j, :k]),
                    "embeddings": to_cell(emb),
                    "block_ids": ids,
                    "block_kinds": kinds,
                    "decode_distance": dist.tolist(),
                    "n_redecoded": dec.n_redecoded,
                    "n_cp_node": n_node,
                    "n_cp_linker": n_link,
                    "compatible": note == "",
                    "note": note,
                    "metals": ";".join(sorted(dec.metals)),
                }
            )
    return pd.DataFrame(rows)


def run(
    inputs: dict,
    outputs: dict,
    cfg: dict,
    *,
    threads: int = 1,
    say=print,
    run_name: str = "default",
) -> pd.DataFrame:
    """The sample_coarse stage. ``inputs``: ``model`` (denoiser.pt), ``embeddings`` and
    ``blocks`` (the decoding library), ``instances`` (block instances, for
    ``coherent_metals``), ``mofs`` (the preprocessed MOFs, for ``density_quantiles``);
    ``outputs["coarse"]``: coarse.parquet."""
    from mof.tables import read_table, write_table

    torch.set_num_threads(max(1, threads))
    t0 = time.perf_counter()
    sc = SampleConfig.from_dict(cfg)
    bounds = None
    if sc.density_quantiles is not None:
        mofs = read_table(inputs["mofs"], columns=["n_atoms", "lattice", "split"])
        train = mofs[mofs["split"] == "train"]
        bounds = density_bounds(train["n_atoms"], train["lattice"], tuple(sc.density_quantiles))
    df = sample_coarse(
        inputs["model"],
        read_table(inputs["embeddings"]),
        read_table(inputs["blocks"]),
        n=sc.n,
        batch_size=sc.batch_size,
        seed=sc.seed,
        steps=sc.steps,
        run=run_name,
        device=sc.device,
        decode_top_k=sc.decode_top_k,
        mu_noise_scale=sc.mu_noise_scale,
        s_noise_scale=sc.s_noise_scale,
        instances=(
            read_table(inputs["instances"], columns=["mof_id", "block_id", "split"])
            if sc.coherent_metals
            else None
        ),
        coherent_metals=sc.coherent_metals,
        max_distinct=sc.max_distinct,
        require_organic=sc.require_organic,
        exclude_undercoordinated=sc.exclude_undercoordinated,
        density_range=bounds,
    )
    write_table(df, outputs["coarse"])
    say(
        f"[sample_coarse] {run_name}: {len(df)} coarse MOFs sampled ({sc.steps} steps) in "
        f"{time.perf_counter() - t0:.0f} s; K median {int(np.median(df['n_blocks']))}; "
        f"{int(df['compatible'].sum())} with balanced connection points; the network moved "
        f"the centres {np.median(df['sampler_shift']):.2f} A (RMS, median) from their initial draw"
        + (
            ""
            if bounds is None
            else f"; {int((df['cell_scale'] != 1.0).sum())} cells scaled into the training "
            f"atom densities {bounds[0]:.1f}-{bounds[1]:.1f} per 1000 A^3"
        )
    )
    return df
