"""Assembly of a coarse MOF (lattice + Gaussians + building-block identities) back to atoms.

Every block's library geometry (atoms and connection points in its principal-axis frame) is put
at its Gaussian's centre, oriented from the principal axes of its Sigma (the shape carries the
orientation; the eight sign choices of the axes, mirror images included, other training
conformers, and for blocks whose Sigma is nearly isotropic in some plane a seeded set of other
rotations are tried, block by block). Then a joint fit (``mof.refine``) moves rotations, block
translations and a bounded strain of the cell so that node and linker connection points meet as
in training (midpoints together, bonds straight, the elements seen across each bond), alternating
a one-to-one assignment (Hungarian, periodic images kept) with an L-BFGS minimisation that also
pushes atoms of different blocks apart. Both run from up to ``starts`` starts
(``_start_modes``). The first holds every block near its sampled centre (``anchor_weight``) and
is kept, ending the search, when it closes every gap within ``anchor_tolerance`` and bends no
bond past ``max_bond_angle``: centres that are right stay where they are. Then one start chooses
orientations at the given centres with blocks free to move in the fit, one with blocks sliding
to their partners while choosing, and the others slide too, visiting the blocks in other orders
with other extra rotations: these two always, the others only while none has passed the
connection checks of ``assembled``; the one kept passes the most of them, then has the lowest
loss. With ``torsions`` the fit also turns rotatable bonds (``mof.fragments``). Every final pair
of connection points becomes a bond between the two atoms that carried them, written into the
CIF as ``_geom_bond``.

Statuses (every sample gets one row):

- ``assembled``: every pair closer than ``max_mismatch``, no bond between blocks bent by more
  than ``max_bond_angle`` from straight through its midpoint (the two half-bonds of a pair point
  opposite ways in training), and no two atoms of different blocks closer than
  ``min_atom_distance``;
- ``bonded``: connection points balance and are all paired, but some gaps or clashes remain
  (reasons ``connections_do_not_meet``, ``bonds_bent``, ``atom_overlap``); with ``handoff``
  (the default, as in MOFDiff) its CIF with its bond list goes to relaxation, which closes the
  gaps or fails it; without ``handoff`` the same structure is ``partial`` and stops here;
- ``failed``: nothing to build (``no_node_or_linker``, ``unbalanced_connections``,
  ``unknown_block``, ``error``).

Each row also says how much repair the fit needed: RMS and largest block displacement (A) and
the cell strain (largest principal strain, fraction).

The package: :mod:`mof.assemble.search` assembles one coarse MOF (the starts, the checks, the
built crystal; the geometry is in :mod:`mof.fit` and :mod:`mof.refine`), and
:mod:`mof.assemble.stage` is the ``assemble_mofs`` stage (a table of coarse MOFs in worker
processes, one CIF with its bonds per built structure).
"""

from __future__ import annotations

from mof.assemble.search import AssemblyParams, AssemblyResult, assemble, principal_axes
from mof.assemble.stage import assemble_table, params_from_config, run

__all__ = [
    "AssemblyParams",
    "AssemblyResult",
    "assemble",
    "assemble_table",
    "params_from_config",
    "principal_axes",
    "run",
]
