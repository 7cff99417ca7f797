import numpy as np
import pandas as pd

from mof.blockcheck import flagged_blocks, undercoordinated_atoms


def _bent(angle: float) -> np.ndarray:
    """Two unit vectors ``angle`` degrees apart, in the xy plane."""
    a = np.radians(angle)
    return np.array([[1.0, 0.0, 0.0], [np.cos(a), np.sin(a), 0.0]])


def test_two_coordinate_carbon_is_flagged_unless_linear():
    # a C between two cut bonds: linear (an alkyne-like sp C) passes, bent (a CH2 without its
    # hydrogens) is flagged; the tolerance is 10 degrees from linear
    for angle, flagged in ((180.0, False), (172.0, False), (165.0, True), (109.5, True)):
        got = undercoordinated_atoms(["C"], np.zeros((1, 3)), [], [0, 0], 1.5 * _bent(angle))
        assert got == ([0] if flagged else []), angle
    # the same with one in-block neighbour and one cut bond
    coords = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]])
    cp = 1.5 * _bent(109.5)[1:]
    assert undercoordinated_atoms(["C", "O"], coords, [[0, 1]], [0], cp) == [0]


def test_carbon_with_enough_neighbours_and_one_coordinate_carbon():
    # a carboxylate C: two O in the block and a cut bond to the ring: three neighbours, fine
    coords = np.array([[0.0, 0.0, 0.0], [1.25, 0.0, 0.0], [-0.6, 1.1, 0.0]])
    ok = undercoordinated_atoms(["C", "O", "O"], coords, [[0, 1], [0, 2]], [0], [[-0.6, -1.3, 0]])
    assert ok == []
    # a methyl C that lost its hydrogens: one neighbour
    assert undercoordinated_atoms(["C", "C"], coords[:2], [[0, 1]], [1], [[2.5, 0, 0]]) == [0]


def test_amine_nitrogen_without_hydrogens_but_not_a_nitrile():
    # N bonded only to a C with three neighbours (an amide N without H): flagged
    coords = np.array([[0.0, 0, 0], [1.4, 0, 0], [2.1, 1.2, 0], [2.1, -1.2, 0]])
    bonds = [[0, 1], [1, 2], [1, 3]]
    got = undercoordinated_atoms(
        ["N", "C", "O", "O"], coords, bonds, [2, 3], [[3, 2, 0], [3, -2, 0]]
    )
    assert got == [0]
    # a nitrile: N#C-* with the C two-coordinate and linear; neither is flagged
    coords = np.array([[0.0, 0, 0], [1.16, 0, 0]])
    assert undercoordinated_atoms(["N", "C"], coords, [[0, 1]], [1], [[2.6, 0, 0]]) == []
    # an N with its hydrogens (three neighbours) is not flagged
    coords = np.array([[0.0, 0, 0], [1.4, 0, 0], [-0.5, 0.9, 0], [-0.5, -0.9, 0]])
    bonds = [[0, 1], [0, 2], [0, 3]]
    assert undercoordinated_atoms(["N", "C", "H", "H"], coords, bonds, [1], [[2.9, 0, 0]]) == []


def test_real_blocks_and_their_hydrogen_free_copies(fixture_tables):
    """The fixture MOFs' blocks are complete (none flagged); the same blocks without their
    hydrogens are flagged wherever a hydrogen sat on a carbon that is then bent or bare."""
    bb = fixture_tables[3]
    assert flagged_blocks(bb) == set()
    stripped = []
    for r in bb.itertuples():
        els = list(r.elements)
        keep = np.array([e != "H" for e in els])
        if keep.all():
            continue
        new = np.cumsum(keep) - 1
        bonds = np.asarray(r.bonds, dtype=int).reshape(-1, 2)
        bonds = new[bonds[keep[bonds].all(1)]]
        coords = np.asarray(r.local_coords, dtype=float).reshape(-1, 3)[keep]
        stripped.append(
            {
                "block_id": r.block_id,
                "elements": [e for e, k in zip(els, keep) if k],
                "local_coords": coords,
                "bonds": bonds,
                "cp_atom": new[np.asarray(r.cp_atom, dtype=int)],
                "cp_local": r.cp_local,
            }
        )
    assert len(stripped) >= 3
    assert flagged_blocks(pd.DataFrame(stripped)) == {s["block_id"] for s in stripped}
