"""Novelty and uniqueness: building-block keys, then StructureMatcher within a key."""

from mof.novelty import block_key, novelty_uniqueness


def test_block_key_is_a_reduced_multiset():
    assert block_key(["A", "B", "A", "B"]) == block_key(["B", "A"]) == "Ax1;Bx1"
    assert block_key(["A", "A", "B"]) != block_key(["A", "B"])


def test_novelty_and_uniqueness(real_crystals):
    from pymatgen.core import Structure

    def s(name, shift=0.0):
        cr = real_crystals[name]
        return Structure(cr.lattice, cr.species, cr.frac + shift)

    training = {"k_hk": [s("FIQCEN_clean")]}
    samples = {
        "a": ("k_hk", s("FIQCEN_clean", 0.13)),  # HKUST-1 again, translated: not novel
        "b": ("k_mof5", s("EDUSIF_clean")),  # novel
        "c": ("k_mof5", s("EDUSIF_clean", 0.31)),  # same as b: novel, not unique
        "d": ("k_hk", s("OFERUN_clean")),  # same key as HKUST-1, other structure: novel
    }
    nov = novelty_uniqueness(samples, training).set_index("sample_id")
    assert nov["novel"].to_dict() == {"a": False, "b": True, "c": True, "d": True}
    assert nov["unique"].to_dict() == {"a": False, "b": True, "c": False, "d": True}
    assert nov.loc["c", "same_as"] == "b"
