"""Graph identities of building blocks, computed with RDKit.

A building block is a molecular graph: its atoms (hydrogens explicit), its intra-block bonds, and
one dummy atom ``*`` per connection point bonded to the atom that carried the cut bond. Bond orders
are not perceived (radius-based bonds carry none), so the identity is the canonical SMILES of this
all-single-bond graph: two instances of the same linker in different conformations or different
MOFs get the same identity; a different connectivity or a different number of connection points
gives a different one.
"""

from __future__ import annotations

import hashlib

import numpy as np
from rdkit import Chem, RDLogger

RDLogger.DisableLog("rdApp.*")


def block_mol(z: np.ndarray, bonds: list[tuple[int, int]], cp_atoms: list[int]) -> Chem.Mol:
    """RDKit molecule of one building block.

    Args:
        z: (n,) atomic numbers of the block's atoms.
        bonds: intra-block bonds as pairs of local atom indices.
        cp_atoms: for each connection point, the local index of the atom it is attached to.
    """
    rw = Chem.RWMol()
    for zi in z:
        a = Chem.Atom(int(zi))
        a.SetNoImplicit(True)
        rw.AddAtom(a)
    for a, b in bonds:
        if a != b and rw.GetBondBetweenAtoms(int(a), int(b)) is None:
            rw.AddBond(int(a), int(b), Chem.BondType.SINGLE)
    for a in cp_atoms:
        d = Chem.Atom(0)
        d.SetNoImplicit(True)
        idx = rw.AddAtom(d)
        rw.AddBond(int(a), idx, Chem.BondType.SINGLE)
    mol = rw.GetMol()
    mol.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(mol)
    return mol


def block_smiles(z: np.ndarray, bonds: list[tuple[int, int]], cp_atoms: list[int]) -> str:
    """Canonical SMILES of a building block graph (connection points as ``*``)."""
    return Chem.MolToSmiles(block_mol(z, bonds, cp_atoms), canonical=True)


def block_id(kind: str, smiles: str) -> str:
    """Short stable identifier: ``N``/``L`` + 12 hex digits of the SMILES' SHA-1."""
    prefix = "N" if kind == "node" else "L"
    return prefix + hashlib.sha1(smiles.encode()).hexdigest()[:12]


def ecfp4_class(z: np.ndarray, bonds: list[tuple[int, int]], cp_atoms: list[int]) -> str:
    """Fingerprint class of a building block: SHA-1 (16 hex digits) of its unfolded ECFP4
    (Morgan radius 2, with counts) over the same graph as :func:`block_smiles`.

    Two building blocks are positives for the contrastive embedding (as in MOFDiff) exactly when
    their ECFP4 fingerprints are identical, i.e. when their classes are equal.
    """
    fp = _morgan_generator().GetSparseCountFingerprint(block_mol(z, bonds, cp_atoms))
    items = sorted(fp.GetNonzeroElements().items())
    return hashlib.sha1(repr(items).encode()).hexdigest()[:16]


_MORGAN = None


def _morgan_generator():
    global _MORGAN
    if _MORGAN is None:
        from rdkit.Chem import rdFingerprintGenerator

        _MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2)
    return _MORGAN
