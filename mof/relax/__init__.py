"""UFF / UFF4MOF relaxation of MOF structures with LAMMPS (through its Python module), or with
the CHGNet potential through ASE (``engine: chgnet``, :mod:`mof.relax.ml`: no typing, BFGS on
atoms and cell together; steps 2-4 below are then that module's).

One structure, start to finish:

1. **Checks** (this process, :func:`mof.screen.screen_cif`): the CIF must parse (one data block,
   a real cell, finite numbers), hold at most ``max_atoms`` atoms, be fully occupied, and no two
   atoms may be closer than ``min_distance`` (0.5 A by default); otherwise the structure is failed
   with the screen's reason code and never reaches LAMMPS.
2. **Typing** (child process, :mod:`mof.relax.interface`): ``lammps-interface`` assigns
   UFF4MOF atom types (plain UFF when UFF4MOF lacks a parameter, e.g. ``KeyError 'S_3'``),
   perceives bonds, angles, dihedrals and inversions, and replicates the cell only until every
   perpendicular width is ``min_cell_width`` (10 A; :func:`mof.relax.supercell.replication`),
   so that no bonded term reaches an atom's own image: LAMMPS reaches the non-bonded cutoff
   (12.5 A) through ghost images, and most MOFs are simulated as their unit cell. Its known failure
   modes are handled by the adapter: its interactive questions (replicate an isolated molecule? yes,
   so the supercell stays a supercell) are answered without a terminal; only a finite bonded
   component is split off as a molecule (lammps-interface's own rule also takes a tiny cell's whole
   framework, of fewer than 25 atoms, and tears it apart), and in a CIF that lists its bonds every
   atom is framework, so nothing is split off; the recursion limit is raised for long chains,
   4-coordinate metals are typed square planar or tetrahedral by their tau4 index with
   ``planar_metals`` (:mod:`mof.relax.metal_geometry`; its own coplanarity test types square-planar
   Cu tetrahedral), and bonded terms that name one atom twice (the i-j-k-i dihedrals it writes for
   three-membered metal rings, which LAMMPS rejects) are dropped from the data file
   (:mod:`mof.relax.lammps_data`); with ``metal_bond_lengths`` the rest length of every
   metal-non-metal bond type becomes the CoRE MOF median of its element pair
   (:mod:`mof.relax.bond_lengths`; UFF's radii make lanthanide-O bonds 0.2 A too short).
3. **Minimisation** (same child, :mod:`mof.relax.engine`): with ``contact_wall`` (a fraction,
   0.85), every two unbonded atoms, 1-3 pairs included, also feel a purely repulsive wall
   reaching that fraction of the sum of their covalent radii
   (:func:`mof.relax.lammps_data.contact_wall_lines`): UFF excludes 1-3 pairs from its
   Lennard-Jones, so a strained assembly can fold two atoms bonded to one centre (O-M-O, M-O-M)
   onto each other; real frameworks have no unbonded pair that close, so their energies are
   UFF's. With ``soft_start``, a CIF that lists
   its bonds (an assembly's) first gets a fixed-cell minimisation with the Lennard-Jones
   repulsion of 1-3 pairs on (UFF excludes them, and a strained assembly can fold two atoms
   bonded to one centre onto each other); conjugate gradients at fixed cell (FIRE after it when
   CG's line search stalls above ``force_tolerance``), then up to ``cycles`` rounds of a short
   cell relaxation (``box_iterations`` of ``fix box/relax`` at zero pressure with ``vmax`` and
   ``nreset``; ``box_relax`` couples the cell components: ``tri`` lengths and angles (the
   default), ``aniso`` lengths only, ``iso``) each followed by a fixed-cell minimisation, while
   each halves the pressure; then isotropic secant volume steps (each followed by a fixed-cell
   minimisation) until the final max force component (LAMMPS ``fmax``) is at most
   ``force_tolerance`` kcal/mol/A and ``|pressure|`` at most ``max_pressure`` atm
   (:func:`mof.relax.engine._cell_cycles`). (One long box/relax minimisation stops with
   "linesearch alpha is zero" a few iterations in: the cell reaches zero pressure with the atoms
   unrelaxed.) The OPENMP package runs it on ``omp_threads`` threads.
4. **Back to the unit cell** (this process, :mod:`mof.relax.supercell`): every supercell atom
   is matched to its unit-cell atom by its initial fractional position; the relaxed unit cell is
   the relaxed supercell divided by the replication, and each atom's relaxed position is the
   average over its replicas (``replica_spread`` says how far the replicas disagree: a large
   value means the relaxation broke the cell's translational symmetry).

The child process (:mod:`mof.child`) gives each structure a wall-clock limit (``timeout``) and
isolates LAMMPS crashes; every outcome is a row (:data:`COLUMNS`, with the final ``max_force``,
``pressure``, the last minimisation's ``stop_reason``, the cell ``cycles`` run and
``bonds_changed``). ``status`` is

* ``relaxed``: every check passed and the relaxation converged (force and, when the cell was
  relaxed, pressure within bounds): the strict outcome;
* ``topology_changed``: the relaxation broke or formed bonds (:mod:`mof.relax.topology`: the
  CIF's bond list, or the perceived bonds, before against the perceived bonds after, with a
  ``bond_slack`` margin); the count is in ``bonds_changed``, the pairs in ``error``;
* ``not_converged``: the bond graph was kept but the final max force or pressure is out of
  bounds (the figures and the stop reason in ``error``);
* ``symmetry_broken``: the replicas of an atom in the relaxed supercell lie more than
  ``max_replica_spread`` (0.5 A) from their average, so the supercell relaxed into something
  that is not a copy of one relaxed cell; the relaxed supercell is the structure (as MOFDiff,
  which validates the supercell it relaxes), its bonds are not compared;
* ``failed``, with a ``reason`` code and a message in ``error``.

``topology_changed``, ``symmetry_broken`` and ``not_converged`` rows have their status as ``reason``
too and their relaxed CIF is written (validated too: MOFDiff judges whatever relaxation returns);
failed rows have none:

===================  ==========================================================================
reason               meaning
===================  ==========================================================================
bad_cif              the CIF cannot be read (truncated, unknown element, inconsistent loops)
multiple_data_blocks, too_many_atoms, disorder: see :mod:`mof.screen`
overlapping_atoms    two atoms closer than ``min_distance`` before relaxation
typing_failed        lammps-interface could not type the structure with UFF4MOF nor UFF
                     (or its process died while typing)
lammps_error         LAMMPS stopped with an error (its message is kept)
engine_error         the CHGNet engine raised or its process died (its message is kept)
timeout              the structure took longer than ``timeout`` seconds
diverged             non-finite energy, energy above the start, or atoms collapsed together
cell_change          the cell volume changed by more than ``max_volume_change`` (fraction)
mapping_failed       the supercell could not be mapped back onto the unit cell
error                an unexpected error in this process (its message is kept)
===================  ==========================================================================

With a ``resume_dir`` (the stage and the CLI use ``<output>/resume``), each finished structure's
row is kept in a file of its own (:mod:`mof.resume`) and a rerun with the same input CIF and
parameters reuses it: an interrupted batch redoes only what had not finished.

Energies are UFF energies in kcal/mol per atom (LAMMPS ``real`` units; no charges, as MOFDiff),
or CHGNet's converted to the same units.

Modules: ``params`` (:class:`RelaxParams`, :data:`COLUMNS`), ``lammps_data`` (filters of the
LAMMPS data and input texts), ``interface`` (the lammps-interface adapter), ``engine`` (the
minimisation; the child process's work), ``ml`` (the CHGNet engine's child work),
``supercell`` (folding back onto the unit cell), ``topology`` (the bond graph before and
after), ``structure`` (one structure: :func:`relax_structure`), ``stage`` (:func:`relax_cifs`
and the stage's :func:`run`). Everything callers use is importable from ``mof.relax``.
"""

from __future__ import annotations

from mof.relax.engine import lammps_version
from mof.relax.lammps_data import box_lattice, drop_repeated_atom_terms
from mof.relax.params import COLUMNS, RelaxParams
from mof.relax.stage import relax_cifs, run
from mof.relax.structure import relax_structure
from mof.relax.supercell import fold_supercell, replication
from mof.relax.topology import bond_changes
from mof.screen import closest_contact

__all__ = [
    "COLUMNS",
    "RelaxParams",
    "bond_changes",
    "box_lattice",
    "closest_contact",
    "drop_repeated_atom_terms",
    "fold_supercell",
    "replication",
    "lammps_version",
    "relax_cifs",
    "relax_structure",
    "run",
]
