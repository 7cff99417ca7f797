"""The building-block encoder is invariant by construction; the contrastive loss is right."""

import numpy as np
import pytest
import torch

from model.embed import block_graph, collate
from model.encoder import BlockEncoder, supervised_contrastive_loss


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


@pytest.fixture(scope="module")
def blocks(real_crystals):
    from mof.decompose import decompose

    dec = decompose(real_crystals["FIQCEN_clean"])
    return [b for b in dec.blocks[:2]] + [b for b in dec.blocks if b.kind == "linker"][:2]


def _embed(enc, z, local, cp):
    g = block_graph(z, local, cp, enc.cutoff)
    zt, pos, ei, batch, n, _ = collate([g], torch.device("cpu"))
    with torch.no_grad():
        return enc(zt, pos, ei, batch, n)[0].numpy()


@pytest.mark.parametrize("transform", ["rotation", "translation", "permutation"])
def test_embedding_invariance(blocks, transform):
    torch.manual_seed(0)
    enc = BlockEncoder(dim=32, hidden=64, layers=3).eval()
    rng = np.random.default_rng(1)
    for b in blocks:
        ref = _embed(enc, b.z, b.local, b.cp_local)
        if transform == "rotation":
            q = _random_rotation(rng)
            out = _embed(enc, b.z, b.local @ q.T, b.cp_local @ q.T)
        elif transform == "translation":
            t = rng.normal(size=3) * 10
            out = _embed(enc, b.z, b.local + t, b.cp_local + t)
        else:
            p = rng.permutation(len(b.z))
            pc = rng.permutation(len(b.cp_local))
            out = _embed(enc, b.z[p], b.local[p], b.cp_local[pc])
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_embedding_sees_geometry_and_types(blocks):
    torch.manual_seed(0)
    enc = BlockEncoder().eval()
    b = blocks[2]
    ref = _embed(enc, b.z, b.local, b.cp_local)
    assert np.abs(_embed(enc, b.z, b.local * 1.3, b.cp_local * 1.3) - ref).max() > 1e-3
    z = b.z.copy()
    z[z == 8] = 7
    assert np.abs(_embed(enc, z, b.local, b.cp_local) - ref).max() > 1e-3
    assert np.abs(_embed(enc, b.z, b.local, b.cp_local[:-1]) - ref).max() > 1e-3


def _supcon_reference(proj, labels, tau):
    p = proj / np.linalg.norm(proj, axis=1, keepdims=True)
    s = p @ p.T / tau
    losses = []
    for i in range(len(p)):
        pos = [j for j in range(len(p)) if j != i and labels[j] == labels[i]]
        if not pos:
            continue
        denom = np.log(sum(np.exp(s[i, a]) for a in range(len(p)) if a != i))
        losses.append(-np.mean([s[i, j] - denom for j in pos]))
    return np.mean(losses)


def test_supervised_contrastive_loss_matches_reference():
    rng = np.random.default_rng(0)
    proj = rng.normal(size=(10, 5))
    labels = np.array([0, 0, 1, 1, 1, 2, 3, 3, 4, 5])  # 2, 4, 5 have no positive
    got = supervised_contrastive_loss(torch.tensor(proj), torch.tensor(labels), 0.5)
    assert float(got) == pytest.approx(_supcon_reference(proj, labels, 0.5), rel=1e-6)


def test_supervised_contrastive_loss_prefers_separated_classes():
    labels = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[1.0, 0], [1.0, 0.01], [0, 1.0], [0.01, 1.0]])
    bad = torch.tensor([[1.0, 0], [0, 1.0], [1.0, 0.01], [0.01, 1.0]])
    assert supervised_contrastive_loss(good, labels, 0.1) < supervised_contrastive_loss(
        bad, labels, 0.1
    )
    # no positives at all: zero, with a gradient path
    lone = torch.randn(3, 4, requires_grad=True)
    loss = supervised_contrastive_loss(lone, torch.tensor([0, 1, 2]), 0.1)
    assert loss.item() == 0.0
    loss.backward()
