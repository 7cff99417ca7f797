import numpy as np

from mof.decompose import decompose
from mof.identity import block_id, block_smiles


def test_smiles_ignores_atom_order_and_geometry():
    # formate-like O-C-O with H and two connection points, given in two atom orders
    z = np.array([8, 6, 8, 1])
    s1 = block_smiles(z, [(0, 1), (1, 2), (1, 3)], [0, 2])
    z2 = np.array([1, 8, 6, 8])
    s2 = block_smiles(z2, [(2, 1), (2, 3), (0, 2)], [3, 1])
    assert s1 == s2
    assert s1.count("*") == 2
    # one connection point less is another building block
    assert block_smiles(z, [(0, 1), (1, 2), (1, 3)], [0]) != s1


def test_block_id_prefix():
    assert block_id("node", "[*][Zn]").startswith("N")
    assert block_id("linker", "*C").startswith("L")
    assert block_id("linker", "*C") != block_id("linker", "*CC")


def test_same_linker_in_two_mofs_same_identity(real_crystals):
    # terephthalate (BDC) in MOF-5 and isonicotinate-like blocks: BDC appears in EDUSIF only,
    # but BTC of HKUST-1 must be one identity across all 8 instances with different poses
    dec = decompose(real_crystals["FIQCEN_clean"])
    ids = {b.block_id for b in dec.blocks if b.kind == "linker"}
    assert len(ids) == 1
