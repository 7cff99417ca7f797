"""Chemistry side of the pipeline: CIF I/O, bonding, decomposition into building blocks.

Sub-modules:
    periodic   small pure functions for periodic geometry (wrap, minimum image, frac<->cart)
    elements   covalent radii and metal classification
    io         every reader and writer of files (CIF, CoRE MOF archive, Parquet tables)
    bonds      periodic bond perception
    decompose  metal-oxo decomposition into nodes and linkers with connection points
    gaussian   coarse Gaussian (centre, shape) of a building block
    identity   RDKit graph identities of building blocks
    dataset    selection of the structure set (CoRE MOF or a folder of CIFs)
"""
