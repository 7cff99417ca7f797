"""Composition of structures: distinct blocks and metal elements per structure."""

from mof.composition import composition_text, distinct_blocks, metal_counts, metals_of


def test_distinct_blocks_and_metal_counts_count_per_structure():
    lists = [["a", "a", "b"], ["a", "b", "c", "d"], ["x"]]
    assert distinct_blocks(lists).tolist() == [2, 4, 1]
    metals = {"a": metals_of(["Zn", "O"]), "b": frozenset(), "c": metals_of(["Cu"]),
              "d": metals_of(["Co", "Ni", "O"])}  # fmt: skip
    got = metal_counts(lists, metals)
    assert got == {"0": 1 / 3, "1": 1 / 3, "2": 0.0, "3+": 1 / 3}
    assert metals_of(["Cu", "O", "C", "H", "Cu"]) == {"Cu"}
    assert metals_of(["C", "H", "N"]) == frozenset() and metals_of([]) == frozenset()


def test_composition_text_states_samples_against_training():
    text = composition_text([["a"] * 3 + ["b"], ["a", "b", "c", "d"]], [["a", "a", "b", "b"]])
    assert "per sample: median 3 (p90 3.8) in a median 4 blocks" in text
    assert "per training MOF: median 2 (p90 2) in a median 4" in text
    assert composition_text([], []) == "No samples."
