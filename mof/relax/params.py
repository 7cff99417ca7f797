"""The relaxation's parameters (:class:`RelaxParams`, the ``relax`` section of the config) and
the columns of its table (:data:`COLUMNS`, one row per structure)."""

from __future__ import annotations

from dataclasses import dataclass

COLUMNS = [
    "sample_id",
    "status",
    "reason",
    "error",
    "force_field",
    "n_atoms",
    "n_atoms_simulated",
    "supercell",
    "energy_initial",
    "energy_fixed_cell",
    "energy_final",
    "steps",
    "cycles",
    "stop_reason",
    "max_force",
    "pressure",
    "bonds_changed",
    "volume_change",
    "max_length_change",
    "max_angle_change",
    "rms_displacement",
    "replica_spread",
    "min_distance",
    "notes",
    "seconds",
    "seconds_typing",
    "cif",
]


@dataclass
class RelaxParams:
    engine: str = "uff"
    force_field: str = "UFF4MOF"
    cutoff: float = 12.5
    min_cell_width: float = 10.0
    box_relax: str = "tri"
    cycles: int = 8
    max_iterations: int = 5000
    box_iterations: int = 300
    energy_tol: float = 1e-4
    min_energy_tol: float = 1e-8
    force_tol: float = 1e-3
    vmax: float = 0.001
    force_tolerance: float = 0.1
    max_pressure: float = 100.0
    bond_slack: float = 0.15
    perceive_bonds: bool = True
    soft_start: bool = False
    contact_wall: float = 0.85
    metal_bond_lengths: bool = True
    planar_metals: bool = True
    max_volume_change: float = 0.5
    max_replica_spread: float = 0.5
    min_distance: float = 0.5
    omp_threads: int = 1
    timeout: float = 900.0
    max_atoms: int = 10000
    ml_fmax: float = 0.05
    ml_steps: int = 2000
    ml_cell_factor: float = 10.0
