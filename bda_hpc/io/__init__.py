"""File formats: HDF5 parameter files between scales, distributed fields and checkpoints."""
