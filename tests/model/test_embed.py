"""Training, resumption, the embedding table and retrieval on the fixture MOFs."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from model.embed import (
    EmbedConfig,
    NearestBlockIndex,
    encode,
    fingerprint_classes,
    instance_graphs,
    output_paths,
    train_embedding,
)

FAST = dict(hidden=48, layers=2, steps=150, batch_size=48, lr=3e-3, seed=0)


@pytest.fixture(scope="module")
def fixture_instances(fixture_tables):
    inst = fixture_tables[2].copy()
    fps = fingerprint_classes(inst)
    inst["fingerprint"] = fps.reindex(inst["block_id"]).to_numpy()
    return inst


@pytest.fixture(scope="module")
def trained(fixture_instances):
    inst = fixture_instances
    graphs = instance_graphs(inst, 6.0)
    _, labels = np.unique(inst["fingerprint"], return_inverse=True)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model, history = train_embedding(graphs, labels, EmbedConfig(**FAST), progress=False)
    finally:
        torch.set_num_threads(before)
    return model, history, encode(model, graphs)


def test_fingerprint_classes_follow_graph_identity(fixture_instances):
    inst = fixture_instances
    per_block = inst.groupby("block_id")["fingerprint"].nunique()
    assert (per_block == 1).all()
    # BTC of HKUST-1 (FIQCEN) and of VEHJUP is one building block and one class
    btc = inst[(inst["kind"] == "linker") & inst["mof_id"].isin(["FIQCEN_clean", "VEHJUP_clean"])]
    assert btc.groupby("mof_id")["block_id"].first().nunique() == 1


def test_loss_decreases(trained):
    _, history, _ = trained
    first, last = history["loss"].head(10).mean(), history["loss"].tail(10).mean()
    assert last < 0.5 * first


def test_same_linker_from_two_mofs_is_closer_than_any_other_class(fixture_instances, trained):
    inst = fixture_instances
    _, _, vec = trained
    btc = (inst["kind"] == "linker") & inst["mof_id"].isin(["FIQCEN_clean", "VEHJUP_clean"])
    fp = inst.loc[btc, "fingerprint"].iloc[0]
    a = vec[(btc & (inst["mof_id"] == "FIQCEN_clean")).to_numpy()]
    b = vec[(btc & (inst["mof_id"] == "VEHJUP_clean")).to_numpy()]
    others = vec[(inst["fingerprint"] != fp).to_numpy()]
    cross = np.linalg.norm(a[:, None] - b[None], axis=-1).max()
    to_others = np.linalg.norm(np.vstack([a, b])[:, None] - others[None], axis=-1).min()
    assert cross < to_others


def test_retrieval_of_perturbed_embeddings_and_geometries(fixture_instances, trained):
    inst = fixture_instances
    model, _, vec = trained
    g = inst.assign(row=np.arange(len(inst))).groupby("block_id")
    ids = list(g.groups.keys())
    lib = np.stack([vec[rows].mean(0) for rows in g["row"].apply(list)])
    index = NearestBlockIndex(ids, lib)
    rng = np.random.default_rng(0)
    d = np.linalg.norm(lib[:, None] - lib[None], axis=-1)
    eps = 0.1 * d[d > 0].min()
    noisy = lib + rng.normal(size=lib.shape) * eps / np.sqrt(lib.shape[1])
    got, _ = index.query(noisy)
    assert list(got[:, 0]) == ids
    # jittered atom positions (0.03 A) of every instance still retrieve their block
    jit = inst.copy()
    jit["local_coords"] = [
        np.asarray(x) + rng.normal(scale=0.03, size=len(x)) for x in inst["local_coords"]
    ]
    v2 = encode(model, instance_graphs(jit, 6.0))
    got2, _ = index.query(v2)
    acc = np.mean(got2[:, 0] == inst["block_id"].to_numpy())
    assert acc >= 0.95


def test_resume_after_interruption_gives_the_same_model(fixture_instances, tmp_path):
    inst = fixture_instances
    graphs = instance_graphs(inst, 6.0)
    _, labels = np.unique(inst["fingerprint"], return_inverse=True)
    cfg = EmbedConfig(**{**FAST, "steps": 12, "checkpoint_every": 4})
    full, hist_full = train_embedding(
        graphs, labels, cfg, checkpoint=tmp_path / "a.pt", progress=False
    )
    msgs = []
    train_embedding(graphs, labels, cfg, checkpoint=tmp_path / "b.pt", stop_after=6, progress=False)
    resumed, hist = train_embedding(
        graphs, labels, cfg, checkpoint=tmp_path / "b.pt", say=msgs.append, progress=False
    )
    assert any("resuming" in m and "step 6" in m for m in msgs)
    assert len(hist) == 12
    for p, q in zip(full.parameters(), resumed.parameters()):
        torch.testing.assert_close(p, q)
    # a checkpoint from another config is moved aside, not loaded
    other = EmbedConfig(**{**FAST, "steps": 12, "hidden": 32})
    msgs.clear()
    train_embedding(
        graphs,
        labels,
        other,
        checkpoint=tmp_path / "b.pt",
        say=msgs.append,
        stop_after=1,
        progress=False,
    )
    assert any("another config or other data" in m for m in msgs)
    assert (tmp_path / "b.stale.pt").exists()


def test_stage_outputs(tmp_path, fixture_instances, torch_threads):
    from model.embed import run
    from mof.tables import write_table

    inst = fixture_instances.drop(columns=["fingerprint"]).copy()
    inst.loc[inst["mof_id"] == "VEHJUP_clean", "split"] = "test"
    write_table(inst, tmp_path / "inst.parquet")
    out = output_paths(tmp_path)
    inputs = {"instances": str(tmp_path / "inst.parquet")}
    metrics = run(inputs, out, {**FAST, "steps": 30}, say=lambda m: None)
    emb = pd.read_parquet(out["embeddings"])
    assert set(emb["block_id"]) == set(inst["block_id"])
    assert emb["vector"].apply(len).eq(32).all()
    assert emb["count"].sum() == len(inst)
    # VEHJUP's Zn nodes with 3 connections only occur in the held-out MOF
    assert (~emb["in_library"]).any() and emb["in_library"].any()
    assert metrics["heldout_instances_total"] == int((inst["split"] != "train").sum())
    assert json.loads(open(out["metrics"]).read())["library_size"] == emb["in_library"].sum()
    assert len(pd.read_csv(out["loss"])) == 30
    assert open(out["plot"], "rb").read(4) == b"\x89PNG"


def test_library_is_built_from_training_instances_only(tmp_path, fixture_tables, torch_threads):
    """Held-out instances shape neither the library's vectors nor its geometries."""
    from model.embed import run
    from mof.tables import write_table

    inst, bb = fixture_tables[2].copy(), fixture_tables[3]
    # a block in several MOFs whose representative (first instance) comes from a held-out MOF
    shared = bb[bb["n_mofs"] >= 2].iloc[0]
    held_out = shared["example_mof"]
    inst.loc[inst["mof_id"] == held_out, "split"] = "test"
    write_table(inst, tmp_path / "inst.parquet")
    write_table(bb, tmp_path / "blocks.parquet")
    out = output_paths(tmp_path)
    inputs = {
        "instances": str(tmp_path / "inst.parquet"),
        "blocks": str(tmp_path / "blocks.parquet"),
    }
    run(inputs, out, {**FAST, "steps": 30}, say=lambda m: None)
    emb = pd.read_parquet(out["embeddings"]).set_index("block_id")
    per_inst = pd.read_parquet(out["instances"]).merge(
        inst[["mof_id", "block_index", "split"]], on=["mof_id", "block_index"]
    )
    train_mean = (
        per_inst[per_inst["split"] == "train"]
        .groupby("block_id")["vector"]
        .apply(lambda v: np.mean(np.stack(v.to_numpy()), axis=0))
    )
    lib_ids = emb.index[emb["in_library"]]
    assert set(train_mean.index) == set(lib_ids)
    for b in lib_ids:
        np.testing.assert_allclose(emb.loc[b, "vector"], train_mean[b], rtol=1e-5, atol=1e-6)

    lib = pd.read_parquet(out["library"]).set_index("block_id")
    assert set(lib.index) == set(lib_ids)
    train_mofs = set(inst.loc[inst["split"] == "train", "mof_id"])
    assert set(lib["example_mof"]) <= train_mofs
    assert lib.loc[shared["block_id"], "example_mof"] != held_out
    rep = inst[(inst["block_id"] == shared["block_id"]) & (inst["split"] == "train")].iloc[0]
    np.testing.assert_allclose(lib.loc[shared["block_id"], "local_coords"], rep["local_coords"])
