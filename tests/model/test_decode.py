"""Decoding embeddings to library blocks: the balanced dynamic programme against brute force,
and the one-metal-combination rule."""

import itertools

import numpy as np
import pandas as pd
import pytest

from model.decode import BlockDecoder, balanced_choice, training_metal_sets
from model.index import NearestBlockIndex


def test_balanced_choice_is_the_cheapest_balanced_decoding():
    import itertools

    rng = np.random.default_rng(0)
    for _ in range(30):
        k = int(rng.integers(2, 6))
        options = [
            [
                (float(rng.random()), int(rng.choice([2, 3, 4, 6])), bool(rng.random() < 0.4))
                for _ in range(3)
            ]
            for _ in range(k)
        ]
        best = None
        for picks in itertools.product(range(3), repeat=k):
            chosen = [options[g][c] for g, c in enumerate(picks)]
            nodes = [c for c in chosen if c[2]]
            links = [c for c in chosen if not c[2]]
            if nodes and links and sum(c[1] for c in nodes) == sum(c[1] for c in links):
                cost = sum(c[0] for c in chosen)
                if best is None or cost < best[0] - 1e-12:
                    best = (cost, list(picks))
        got = balanced_choice(options)
        if best is None:
            assert got is None
        else:
            assert got is not None
            assert sum(options[g][c][0] for g, c in enumerate(got)) == pytest.approx(best[0])
    # already balanced nearest blocks are kept; nothing balances -> None
    assert balanced_choice([[(0.1, 4, True), (0.2, 2, True)], [(0.1, 4, False)]]) == [0, 0]
    assert balanced_choice([[(0.1, 4, True)], [(0.1, 3, False)]]) is None


def _library():
    """Two Zn nodes, two Cu nodes and two linkers on a line in a 1-d embedding space."""
    ids = ["NZn1", "NZn2", "NCu1", "NCu2", "L1", "L2"]
    vec = np.array([[0.0], [3.0], [0.4], [2.85], [10.0], [10.5]])
    kinds = ["node"] * 4 + ["linker"] * 2
    ncp = [2, 2, 2, 2, 2, 2]
    metals = [{"Zn"}, {"Zn"}, {"Cu"}, {"Cu"}, set(), set()]
    return ids, vec, kinds, ncp, metals


def test_metal_rule_keeps_the_nodes_of_a_sample_within_one_combination():
    ids, vec, kinds, ncp, metals = _library()
    emb = np.array([[0.1], [2.9], [10.1], [10.2]])  # nearest: NZn1, NCu2, L1, L1
    index = NearestBlockIndex(ids, vec)
    free = BlockDecoder(index, kinds, ncp, metals, top_k=3)
    assert free.decode(emb).ids == ["NZn1", "NCu2", "L1", "L1"]
    one = BlockDecoder(index, kinds, ncp, metals, top_k=3, metal_sets=[{"Zn"}, {"Cu"}])
    got = one.decode(emb)
    # Zn: 0.1 + 0.1 (NZn2); Cu: 0.3 + 0.05 -> Zn is cheaper, and both nodes are Zn
    assert got.ids == ["NZn1", "NZn2", "L1", "L1"] and got.metals == {"Zn"} and got.balanced
    assert got.n_redecoded == 1
    both = BlockDecoder(index, kinds, ncp, metals, top_k=3, metal_sets=[{"Zn", "Cu"}])
    assert both.decode(emb).ids == ["NZn1", "NCu2", "L1", "L1"]


def test_metal_rule_is_the_cheapest_balanced_choice_over_all_combinations():
    rng = np.random.default_rng(1)
    elements = ["Zn", "Cu", "Co"]
    for _ in range(25):
        n = 9
        kinds = ["node" if i < 6 else "linker" for i in range(n)]
        metals = [{elements[i % 3]} if i < 6 else set() for i in range(n)]
        ncp = [int(rng.choice([2, 3, 4])) for _ in range(n)]
        vec = rng.normal(size=(n, 2))
        sets = [frozenset({"Zn"}), frozenset({"Cu"}), frozenset({"Cu", "Co"})]
        emb = rng.normal(size=(int(rng.integers(2, 5)), 2))
        top_k = 3
        dec = BlockDecoder(
            NearestBlockIndex([f"b{i}" for i in range(n)], vec), kinds, ncp, metals, top_k, sets, 10
        )
        got = dec.decode(emb)
        d = np.linalg.norm(emb[:, None] - vec[None], axis=-1)
        best = None
        for s in sets:
            cols = [i for i in range(n) if kinds[i] == "linker" or metals[i] <= s]
            cand = [sorted(cols, key=lambda c: d[g, c])[:top_k] for g in range(len(emb))]
            for pick in itertools.product(*cand):
                nodes = [c for c in pick if kinds[c] == "node"]
                links = [c for c in pick if kinds[c] == "linker"]
                if nodes and links and sum(ncp[c] for c in nodes) == sum(ncp[c] for c in links):
                    cost = sum(d[g, c] for g, c in enumerate(pick))
                    if best is None or cost < best - 1e-9:
                        best = cost
        if best is None:
            assert not got.metals  # fell back to the decode without the rule
        else:
            assert got.balanced and got.distance.sum() == pytest.approx(best)
            used = set().union(*(metals[int(b[1:])] for b in got.ids))
            assert frozenset(used) <= got.metals and got.metals in sets


def test_training_metal_sets():
    inst = pd.DataFrame(
        {
            "mof_id": ["a", "a", "b", "b", "c", "d"],
            "block_id": ["NZn", "L", "NCu", "NNa", "NZn", "NCo"],
            "split": ["train"] * 5 + ["test"],
        }
    )
    of = {"NZn": {"Zn"}, "NCu": {"Cu"}, "NNa": {"Na"}, "L": set(), "NCo": {"Co"}}
    sets = training_metal_sets(inst, {k: frozenset(v) for k, v in of.items()})
    assert sets == [frozenset({"Zn"}), frozenset({"Cu", "Na"})]  # most frequent first; no test MOF


def _all_pool_decoder(vec, kinds, ncp, m, organic=None) -> BlockDecoder:
    """A few-blocks decoder over blocks ``b0, b1, ...`` whose pools hold every block, so that
    its choice is comparable with brute force over all assignments."""
    n = len(kinds)
    index = NearestBlockIndex([f"b{i}" for i in range(n)], vec)
    return BlockDecoder(
        index, kinds, ncp, [set()] * n, top_k=1, max_distinct=m, pool=n, organic=organic
    )


def test_few_distinct_blocks_is_the_cheapest_balanced_choice_over_all_small_sets():
    """With pools as large as the library, the decode is the brute-force optimum over every
    assignment that uses at most ``max_distinct`` blocks, a node and a linker among them."""
    rng = np.random.default_rng(2)
    n_found = 0
    for _ in range(25):
        n = 7
        kinds = ["node" if i < 3 else "linker" for i in range(n)]
        ncp = [int(rng.choice([2, 3, 4, 6])) for _ in range(n)]
        vec = rng.normal(size=(n, 2))
        emb = rng.normal(size=(int(rng.integers(2, 6)), 2))
        m = int(rng.choice([2, 3]))
        dec = _all_pool_decoder(vec, kinds, ncp, m)
        d = np.linalg.norm(emb[:, None] - vec[None], axis=-1)
        best = None
        for pick in itertools.product(range(n), repeat=len(emb)):
            nodes = [c for c in pick if kinds[c] == "node"]
            links = [c for c in pick if kinds[c] == "linker"]
            if len(set(pick)) > m or not nodes or not links:
                continue
            if sum(ncp[c] for c in nodes) == sum(ncp[c] for c in links):
                cost = sum(d[g, c] for g, c in enumerate(pick))
                if best is None or cost < best - 1e-9:
                    best = cost
        chosen, ok = dec.decode_few(d)
        if best is None:
            assert not ok and chosen is None
        else:
            n_found += 1
            assert ok and len(set(chosen.tolist())) <= m
            assert d[np.arange(len(emb)), chosen].sum() == pytest.approx(best)
            assert dec.decode(emb).distance.sum() == pytest.approx(best)
    assert n_found >= 10  # the comparison was made, not skipped


def test_few_distinct_blocks_repeats_blocks_and_falls_back_when_nothing_balances():
    ids, vec, kinds, ncp, metals = _library()
    index = NearestBlockIndex(ids, vec)
    # nearest: NZn1, NCu1, NCu2, L1, L2, L1 -> 5 distinct blocks
    emb = np.array([[0.1], [0.35], [2.9], [10.1], [10.4], [10.0]])
    free = BlockDecoder(index, kinds, ncp, metals, top_k=3).decode(emb)
    assert len(set(free.ids)) == 5 and free.balanced
    few = BlockDecoder(index, kinds, ncp, metals, top_k=3, max_distinct=2).decode(emb)
    assert few.balanced and len(set(few.ids)) == 2
    # nodes: NCu1 costs 0.3 + 0.05 + 2.5, NZn1 0.1 + 0.35 + 2.9; linkers: L1 0.1 + 0.4 + 0
    assert few.ids == ["NCu1"] * 3 + ["L1"] * 3
    # 3 Gaussians of 2 connection points cannot balance with any blocks: the ordinary decode
    odd = BlockDecoder(index, kinds, ncp, metals, top_k=3, max_distinct=2)
    got = odd.decode(np.array([[0.1], [10.1], [10.2]]))
    assert not got.balanced and got.ids == ["NZn1", "L1", "L1"]
    with pytest.raises(ValueError, match="max_distinct"):
        BlockDecoder(index, kinds, ncp, metals, max_distinct=1)


def test_organic_rule_is_the_cheapest_balanced_choice_holding_an_organic_block():
    """Against brute force: the balanced programme with ``need_organic`` and the few-blocks
    decode with an organic requirement are the cheapest assignments that also pick at least
    one organic block; without the flag, the programme ignores the 4th element."""
    rng = np.random.default_rng(5)
    n_found = n_changed = 0
    for _ in range(30):
        n = 7
        kinds = ["node" if i < 3 else "linker" for i in range(n)]
        ncp = [int(rng.choice([2, 3, 4])) for _ in range(n)]
        organic = [bool(rng.random() < 0.3) for _ in range(n)]
        vec = rng.normal(size=(n, 2))
        emb = rng.normal(size=(int(rng.integers(2, 6)), 2))
        dec = _all_pool_decoder(vec, kinds, ncp, 3, organic)
        d = np.linalg.norm(emb[:, None] - vec[None], axis=-1)
        best = {True: None, False: None}  # with and without the organic requirement
        for pick in itertools.product(range(n), repeat=len(emb)):
            nodes = [c for c in pick if kinds[c] == "node"]
            links = [c for c in pick if kinds[c] == "linker"]
            if len(set(pick)) > 3 or not nodes or not links:
                continue
            if sum(ncp[c] for c in nodes) != sum(ncp[c] for c in links):
                continue
            cost = sum(d[g, c] for g, c in enumerate(pick))
            for need in (True, False):
                if need and not any(organic[c] for c in pick):
                    continue
                if best[need] is None or cost < best[need] - 1e-9:
                    best[need] = cost
        chosen, ok = dec.decode_few(d, need=True)
        if best[True] is None:
            assert not ok
        else:
            n_found += 1
            assert ok and any(organic[c] for c in chosen)
            assert d[np.arange(len(emb)), chosen].sum() == pytest.approx(best[True])
            n_changed += best[True] > best[False] + 1e-9
        # the full decode: the organic optimum when there is one, else the rule is dropped
        got = dec.decode(emb)
        want = best[True] if best[True] is not None else best[False]
        if want is not None:
            assert got.balanced and got.distance.sum() == pytest.approx(want)
        # balanced_choice over all blocks for every Gaussian, against the same brute force
        # without the few-blocks limit
        options = [
            [(d[g, c], ncp[c], kinds[c] == "node", organic[c]) for c in range(n)]
            for g in range(len(emb))
        ]
        free = None
        for pick in itertools.product(range(n), repeat=len(emb)):
            nodes = [c for c in pick if kinds[c] == "node"]
            links = [c for c in pick if kinds[c] == "linker"]
            if not nodes or not links or not any(organic[c] for c in pick):
                continue
            if sum(ncp[c] for c in nodes) == sum(ncp[c] for c in links):
                cost = sum(d[g, c] for g, c in enumerate(pick))
                free = cost if free is None or cost < free else free
        picks = balanced_choice(options, need_organic=True)
        if free is None:
            assert picks is None
        else:
            assert sum(options[g][c][0] for g, c in enumerate(picks)) == pytest.approx(free)
        plain = balanced_choice([[o[:3] for o in row] for row in options])
        assert balanced_choice(options) == plain
    assert n_found >= 10 and n_changed >= 3  # the rule was tested where it changes the choice


def test_organic_rule_falls_back_when_no_organic_block_balances():
    ids, vec, kinds, ncp, metals = _library()
    index = NearestBlockIndex(ids, vec)
    emb = np.array([[0.1], [0.35], [10.1], [10.4]])
    plain = BlockDecoder(index, kinds, ncp, metals, top_k=3, max_distinct=2).decode(emb)
    # L2 is the one organic block: the sample takes it although L1 is nearer every Gaussian
    only_l2 = [i == "L2" for i in ids]
    org = BlockDecoder(index, kinds, ncp, metals, top_k=3, max_distinct=2, organic=only_l2)
    got = org.decode(emb)
    assert got.balanced and "L2" in got.ids and "L2" not in plain.ids
    # a pool of one linker (L1, the Gaussians' choice) gains the organic one it lacks
    small = BlockDecoder(
        index, kinds, ncp, metals, top_k=3, max_distinct=2, pool=1, organic=only_l2
    )
    chosen, ok = small.decode_few(index.distances(emb), need=True)
    assert ok and "L2" in [ids[c] for c in chosen] and len(set(chosen.tolist())) == 2
    # no organic block in the library: the same decode as without the rule
    none = BlockDecoder(index, kinds, ncp, metals, top_k=3, max_distinct=2, organic=[False] * 6)
    assert none.decode(emb).ids == plain.ids and none.decode(emb).balanced
