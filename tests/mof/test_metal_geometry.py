"""Square-planar or tetrahedral typing of 4-coordinate metals (mof/relax/metal_geometry.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mof.relax.interface import type_structure
from mof.relax.metal_geometry import planar_metal_typing, square_planar, tau4

RELAX_DATA = Path(__file__).resolve().parents[1] / "data" / "relax"

SQUARE = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])  # first two trans
TETRAHEDRON = np.array([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])


def _tilted(base: np.ndarray, degrees: float, rng) -> np.ndarray:
    """Each vector turned by ``degrees`` about a random axis perpendicular to it, lengths
    scaled by 0.9-1.1, the whole set rotated at random."""
    out = []
    for v in base:
        axis = np.cross(v, rng.normal(size=3))
        axis /= np.linalg.norm(axis)
        turned = Rotation.from_rotvec(np.radians(degrees) * axis).apply(v)
        out.append(turned * rng.uniform(0.9, 1.1))
    return Rotation.random(random_state=rng).apply(np.array(out))


def test_tau4_is_0_for_a_square_and_1_for_a_tetrahedron_under_any_rotation_and_order():
    rng = np.random.default_rng(0)
    for _ in range(20):
        rot = Rotation.random(random_state=rng)
        order = rng.permutation(4)
        assert tau4(rot.apply(SQUARE)[order] * 2.1) == pytest.approx(
            0.0, abs=1e-6
        )  # arccos near -1: ~1e-8 rad
        # 360 - 2 x arccos(-1/3), over 141 degrees
        assert tau4(rot.apply(TETRAHEDRON)[order]) == pytest.approx(141.058 / 141.0, abs=1e-4)
        assert square_planar(rot.apply(SQUARE)[order])
        assert not square_planar(rot.apply(TETRAHEDRON)[order])


def test_distorted_geometries_go_to_the_nearer_ideal():
    rng = np.random.default_rng(1)
    for _ in range(20):
        assert square_planar(_tilted(SQUARE, 12.0, rng))
        assert not square_planar(_tilted(TETRAHEDRON, 12.0, rng))
    # DORFOG's Mg (angles 78-103 and 165-169 degrees, lammps-interface: tetrahedral)
    ang = np.radians([0.0, 169.0, 88.0, 268.0])
    dorfog = np.stack([np.cos(ang), np.sin(ang), [0.1, -0.1, 0.25, -0.2]], axis=1)
    assert square_planar(dorfog)
    # a see-saw (one trans pair, the other angles 90: tau4 = 90 / 141) is not square planar
    seesaw = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    assert tau4(seesaw) == pytest.approx(90.0 / 141.0)
    assert not square_planar(seesaw)
    with pytest.raises(ValueError):
        square_planar(SQUARE[:3])


def _metal_types(data: str) -> set[str]:
    lines = data.splitlines()
    start = lines.index("Masses") + 2
    labels = set()
    for line in lines[start:]:
        if not line.strip():
            break
        labels.add(line.split("#")[1].strip())
    return {t for t in labels if t.startswith(("Cu", "Dy", "Mg"))}


def test_square_planar_copper_is_typed_square_planar_and_the_patch_is_undone():
    """One of DIBXOD's two Cu has angles of exactly 90 and 180 degrees; lammps-interface's own
    test (plane of the first two bonds, which are trans) types it tetrahedral (Cu3f2) like the
    other, tetrahedral one."""
    from lammps_interface import structure_data
    from lammps_interface.uff4mof import UFF4MOF_DATA

    cif = str(RELAX_DATA / "DIBXOD_clean.cif")
    own = type_structure(cif, "UFF4MOF", 12.5, io.StringIO(), planar_metals=False)
    fixed = type_structure(cif, "UFF4MOF", 12.5, io.StringIO(), planar_metals=True)
    cu_own = {t for t in _metal_types(own["data"]) if t.startswith("Cu")}
    cu_fixed = {t for t in _metal_types(fixed["data"]) if t.startswith("Cu")}
    assert cu_own == {"Cu3f2"}
    assert cu_fixed == {"Cu3f2", "Cu4+2"}
    saved = structure_data.MolecularGraph.coplanar
    before = list(UFF4MOF_DATA)

    def last_of(labels, element):  # what lammps-interface falls back to for an untyped metal
        return [t for t in labels if t[:2].strip("_") == element][-1]

    with planar_metal_typing():
        for element in ("Gd", "Mg", "Cu", "Y"):
            assert last_of(UFF4MOF_DATA, element) == last_of(before, element)
        assert structure_data.MolecularGraph.coplanar is not saved
        assert UFF4MOF_DATA["Mg4f2"] == UFF4MOF_DATA["Mg6"]  # Mg has no square-planar type
        assert "Mg4+2" not in UFF4MOF_DATA  # what 5-coordinate metals look up: left alone
        assert "Cu4f2" not in UFF4MOF_DATA  # Cu has one (Cu4+2): no alias
    assert structure_data.MolecularGraph.coplanar is saved
    assert list(UFF4MOF_DATA) == before
