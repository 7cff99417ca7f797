"""Sampling a tiny trained model end to end: determinism, decoding, CIFs pymatgen reads."""

import warnings

import numpy as np
import pandas as pd
import pytest

from model.data import compute_stats
from model.sample import sample_coarse
from model.train import TrainConfig, embeddings_fingerprint, save_model, train


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, coarse_mofs, random_embeddings):
    stats = compute_stats(coarse_mofs)
    cfg = TrainConfig(dim=32, layers=2, heads=4, steps=200, batch_size=4, lr=3e-3, warmup=10)
    _, ema, _, _ = train(coarse_mofs, stats, cfg, progress=False)
    path = tmp_path_factory.mktemp("model") / "denoiser.pt"
    save_model(path, ema, cfg, stats, 8, embeddings_fingerprint(random_embeddings))
    return path


def test_same_seed_same_samples(tiny_model, random_embeddings, fixture_tables):
    bb = fixture_tables[3]
    kw = dict(n=5, batch_size=3, steps=4, run="t", progress=False)
    a = sample_coarse(str(tiny_model), random_embeddings, bb, seed=1, **kw)
    b = sample_coarse(str(tiny_model), random_embeddings, bb, seed=1, **kw)
    c = sample_coarse(str(tiny_model), random_embeddings, bb, seed=2, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(
        np.concatenate(a["centres_frac"].to_list()[:1]),
        np.concatenate(c["centres_frac"].to_list()[:1]),
    )
    assert len(a) == 5 and a["sample_id"].is_unique
    for _, r in a.iterrows():
        k = r["n_blocks"]
        assert len(r["block_ids"]) == k and len(r["centres_frac"]) == 3 * k
        assert set(r["block_ids"]) <= set(random_embeddings["block_id"])
        assert r["compatible"] == (r["n_cp_node"] == r["n_cp_linker"] and not r["note"])


def test_sampler_shift_is_the_rms_distance_from_the_initial_draw(
    tiny_model, random_embeddings, fixture_tables
):
    """sampler_shift against a brute-force minimum image over a 5 x 5 x 5 block of images."""
    df = sample_coarse(
        str(tiny_model),
        random_embeddings,
        fixture_tables[3],
        n=4,
        batch_size=2,
        seed=0,
        steps=3,
        run="t",
        progress=False,
    )
    shifts = np.array([(i, j, k) for i in range(-2, 3) for j in range(-2, 3) for k in range(-2, 3)])
    for r in df.itertuples():
        start = np.asarray(r.initial_centres_frac).reshape(-1, 3)
        end = np.asarray(r.centres_frac).reshape(-1, 3)
        lattice = np.asarray(r.lattice).reshape(3, 3)
        assert start.shape == end.shape and ((start >= 0) & (start < 1)).all()
        d = ((end - start)[:, None, :] + shifts[None]) @ lattice  # (K, 125, 3)
        nearest = np.sqrt((d**2).sum(-1)).min(1)
        assert r.sampler_shift == pytest.approx(np.sqrt((nearest**2).mean()), rel=1e-5)
        assert r.sampler_shift > 0  # the network moved them


def test_balanced_decoding_changes_only_what_it_must(tiny_model, random_embeddings, fixture_tables):
    bb = fixture_tables[3]
    kw = dict(n=6, batch_size=3, steps=4, run="t", seed=3, progress=False, max_distinct=0)
    near = sample_coarse(str(tiny_model), random_embeddings, bb, decode_top_k=1, **kw)
    bal = sample_coarse(str(tiny_model), random_embeddings, bb, decode_top_k=5, **kw)
    assert (near["n_redecoded"] == 0).all()
    assert bal["compatible"].sum() >= near["compatible"].sum()
    for a, b in zip(near.itertuples(), bal.itertuples()):
        assert np.allclose(a.centres_frac, b.centres_frac)  # same samples, other decoding
        if a.compatible:  # balanced already: the nearest blocks are the cheapest choice
            assert list(a.block_ids) == list(b.block_ids) and b.n_redecoded == 0
        changed = sum(x != y for x, y in zip(a.block_ids, b.block_ids))
        assert changed == b.n_redecoded
        assert sum(b.decode_distance) >= sum(a.decode_distance) - 1e-6


def test_few_distinct_blocks_per_sample(tiny_model, random_embeddings, fixture_tables):
    """The default decode repeats blocks: at most max_distinct per balanced sample (or, when no
    set of 3 balances, the free balanced decode), never cheaper than the free balanced decode
    of the same samples, and the samples themselves (centres, embeddings) unchanged."""
    bb = fixture_tables[3]
    kw = dict(n=8, batch_size=4, steps=4, run="t", seed=5, progress=False)
    free = sample_coarse(str(tiny_model), random_embeddings, bb, max_distinct=0, **kw)
    few = sample_coarse(str(tiny_model), random_embeddings, bb, **kw)  # the default, 3
    assert few["compatible"].sum() >= 1
    assert (free["block_ids"].apply(lambda b: len(set(b))) > 3).any()  # the rule had work to do
    for a, b in zip(free.itertuples(), few.itertuples()):
        assert np.allclose(a.centres_frac, b.centres_frac) and np.allclose(
            a.embeddings, b.embeddings
        )
        if b.compatible:
            assert len(set(b.block_ids)) <= 3 or list(b.block_ids) == list(a.block_ids)
            if a.compatible:
                assert sum(b.decode_distance) >= sum(a.decode_distance) - 1e-6


def test_organic_rule_gives_every_sample_carbon_and_hydrogen(
    tiny_model, random_embeddings, fixture_tables
):
    """With ``require_organic`` every balanced sample holds a block with C and H; samples that
    had one keep their decode. Every fixture linker is organic, so all but one are made
    inorganic here (their atoms all O) for the rule to have work."""
    bb = fixture_tables[3].copy()
    keep = bb.loc[bb["kind"] == "linker", "block_id"].iloc[0]
    bb["elements"] = [
        e if k == "node" or b == keep else ["O"] * len(e)
        for b, k, e in zip(bb["block_id"], bb["kind"], bb["elements"])
    ]
    els = dict(zip(bb["block_id"], bb["elements"]))
    kw = dict(n=16, batch_size=8, steps=4, run="t", seed=7, progress=False)
    plain = sample_coarse(str(tiny_model), random_embeddings, bb, **kw)
    org = sample_coarse(str(tiny_model), random_embeddings, bb, require_organic=True, **kw)

    def organic(ids):
        return any({"C", "H"} <= set(els[b]) for b in ids)

    assert not all(organic(ids) for ids in plain["block_ids"])  # the rule had work to do
    for a, b in zip(plain.itertuples(), org.itertuples()):
        if b.compatible:
            assert organic(b.block_ids)
        if a.compatible and organic(a.block_ids):
            assert list(a.block_ids) == list(b.block_ids)


def test_cells_are_scaled_into_the_density_range(tiny_model, random_embeddings, fixture_tables):
    """With a density range, each cell is the sampled one times ``cell_scale`` and holds its
    decoded blocks' atoms within the range; blocks, centres and embeddings are the same."""
    bb = fixture_tables[3]
    kw = dict(n=8, batch_size=4, steps=4, run="t", seed=5, progress=False)
    free = sample_coarse(str(tiny_model), random_embeddings, bb, **kw)
    dens = free["atom_density"].to_numpy()
    assert (free["cell_scale"] == 1.0).all()
    lo, hi = np.percentile(dens, 30), np.percentile(dens, 60)  # some below, some above
    fit = sample_coarse(str(tiny_model), random_embeddings, bb, density_range=(lo, hi), **kw)
    atoms = dict(zip(bb["block_id"], bb["n_atoms"]))
    for a, b in zip(free.itertuples(), fit.itertuples()):
        assert list(a.block_ids) == list(b.block_ids)
        assert np.allclose(a.centres_frac, b.centres_frac)
        assert np.allclose(a.embeddings, b.embeddings)
        assert b.sampler_shift == pytest.approx(a.sampler_shift)  # measured in the sampled cell
        assert np.allclose(np.asarray(b.lattice), b.cell_scale * np.asarray(a.lattice))
        lengths = np.asarray(a.lattice_params)[:3]
        assert np.allclose(np.asarray(b.lattice_params)[:3], b.cell_scale * lengths)
        n = sum(atoms[i] for i in b.block_ids)
        volume = abs(np.linalg.det(np.asarray(b.lattice).reshape(3, 3)))
        assert lo - 1e-6 <= 1000 * n / volume <= hi + 1e-6
    assert (fit["cell_scale"] > 1).any() and (fit["cell_scale"] < 1).any()


def test_flagged_blocks_are_never_decoded(tiny_model, random_embeddings, fixture_tables):
    """With ``exclude_undercoordinated`` no sample holds a block that MOFChecker's coordination
    rules flag: here the linker the plain decode uses most, stripped of its hydrogens."""
    from collections import Counter

    from mof.blockcheck import flagged_blocks

    bb = fixture_tables[3].copy()
    kw = dict(n=8, batch_size=4, steps=4, run="t", seed=5, progress=False)
    plain = sample_coarse(str(tiny_model), random_embeddings, bb, **kw)
    kinds = dict(zip(bb["block_id"], bb["kind"]))
    used = Counter(b for ids in plain["block_ids"] for b in ids if kinds[b] == "linker")
    target = next(
        b for b, _ in used.most_common() if "H" in set(bb.set_index("block_id").loc[b, "elements"])
    )
    i = int(np.flatnonzero(bb["block_id"] == target)[0])
    els = list(bb.at[i, "elements"])
    keep = np.array([e != "H" for e in els])
    new = np.cumsum(keep) - 1
    bonds = np.asarray(bb.at[i, "bonds"], dtype=int).reshape(-1, 2)
    bb.at[i, "elements"] = [e for e, k in zip(els, keep) if k]
    bb.at[i, "local_coords"] = (
        np.asarray(bb.at[i, "local_coords"], float).reshape(-1, 3)[keep].ravel()
    )
    bb.at[i, "bonds"] = new[bonds[keep[bonds].all(1)]].ravel()
    bb.at[i, "cp_atom"] = new[np.asarray(bb.at[i, "cp_atom"], dtype=int)]
    bb.at[i, "n_atoms"] = int(keep.sum())
    assert flagged_blocks(bb) == {target}
    clean = sample_coarse(
        str(tiny_model), random_embeddings, bb, exclude_undercoordinated=True, **kw
    )
    assert not any(target in ids for ids in clean["block_ids"])
    assert clean["compatible"].sum() >= 1


def test_sampler_refuses_another_embedding_table(tiny_model, random_embeddings, fixture_tables):
    other = random_embeddings.copy()
    other["vector"] = [v + 1.0 for v in other["vector"]]
    with pytest.raises(ValueError, match="another embedding table"):
        sample_coarse(
            str(tiny_model),
            other,
            fixture_tables[3],
            n=1,
            batch_size=1,
            seed=0,
            steps=2,
            progress=False,
        )


def test_end_to_end_cifs_read_back(tmp_path, tiny_model, random_embeddings, fixture_tables):
    from pymatgen.core import Structure

    from mof.assemble import AssemblyParams, assemble_table
    from mof.library import load_library

    bb = fixture_tables[3]
    coarse = sample_coarse(
        str(tiny_model), random_embeddings, bb, n=6, batch_size=3, seed=0, steps=10, progress=False
    )
    table = assemble_table(
        coarse, load_library(bb), AssemblyParams(steps=20), tmp_path, processes=2, progress=False
    )
    assert len(table) == 6
    assert set(table["status"]) <= {"assembled", "bonded", "failed"}
    written = table.dropna(subset=["cif"])
    assert len(written) >= 1
    for name, n_atoms in zip(written["cif"], written["n_atoms"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Structure.from_file(tmp_path / name)
        assert len(s) == n_atoms


def test_coherent_metals_keeps_each_sample_within_a_training_combination(
    tiny_model, random_embeddings, fixture_tables
):
    from model.decode import training_metal_sets
    from mof.composition import metals_of

    _, _, inst, bb = fixture_tables
    kw = dict(n=6, batch_size=3, steps=4, run="t", seed=3, progress=False)
    with pytest.raises(ValueError, match="instances"):
        sample_coarse(str(tiny_model), random_embeddings, bb, coherent_metals=True, **kw)
    out = sample_coarse(
        str(tiny_model), random_embeddings, bb, coherent_metals=True, instances=inst, **kw
    )
    metals = {
        b: metals_of(e)
        for b, e, k in zip(bb["block_id"], bb["elements"], bb["kind"])
        if k == "node"
    }
    sets = training_metal_sets(inst, metals)
    assert (out["metals"] != "").any()
    for r in out.itertuples():
        if r.metals:  # else no combination balanced: the decode without the rule
            allowed = frozenset(r.metals.split(";"))
            used = frozenset().union(*(metals.get(b, frozenset()) for b in r.block_ids))
            assert allowed in sets and used <= allowed and r.compatible
