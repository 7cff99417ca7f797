"""Chemistry side of the pipeline: structures, decomposition, assembly, relaxation, validation.

Sub-modules:
    crystal     the in-memory structure (Crystal) and the Hill formula
    cifcheck    CifError and the checks a CIF's cell and coordinates must pass
    io          CIF reading/writing, folders of CIFs, YAML (re-exports Crystal, CifError)
    coremof     the CoRE MOF archive and property CSV shipped by the core-mof wheel
    tables      Parquet tables: reading, writing, column lists, flattened array cells
    periodic    small pure functions for periodic geometry (wrap, minimum image, frac<->cart)
    elements    covalent radii and metal classification
    bonds       periodic bond perception
    decompose   metal-oxo decomposition into nodes and linkers with connection points
    gaussian    coarse Gaussian (centre, shape) of a building block
    identity    RDKit graph identities of building blocks
    dataset     selection of the structure set (CoRE MOF or a folder of CIFs)
    preprocess  the preprocess stage: decomposition of every structure, the four tables
    assemble    atoms back from coarse samples (a package: search for one structure, stage for
                the table; the orientation search and pairing in fit, the joint fit in refine,
                rotatable bonds in fragments, the blocks in library)
    screen      the checks relax and validate make before spending time on a structure
    child       run a function in a child process with a time limit (LAMMPS, zeo++)
    relax       UFF relaxation with LAMMPS (a package: see mof/relax/__init__.py)
    porosity    zeo++ pore geometry
    validate    MOFChecker checks and porosity of relaxed structures
    composition distinct blocks and metal elements per structure (samples against training)
    density     atom density of a cell and the scale into the training MOFs' range
    blockcheck  MOFChecker's C and N coordination rules applied to one library block
    novelty     novelty and uniqueness: building-block keys, then StructureMatcher
    report      tables and figures of a run
    resume      interrupted runs: kept per-structure results, stale temporary folders, PID lock
    stage, configcheck, cli, logs, parallel   stage helpers and the run() convention, config
                checks, the command line,
                logging and the worker pool
"""
