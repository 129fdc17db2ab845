"""3D electrode microstructures: synthetic generation, voxel images, morphology and effective transport.

``generate``: polydisperse spheres / ellipsoids at a target porosity, optional
carbon-binder phase, reproducible under a seed; ``images``: segmented voxel
images from NumPy, HDF5 or TIFF; ``metrics``: volume fractions, specific
surface area, connectivity; ``stage``: the ``bda-hpc microstructure`` stage.
"""

# Phase labels of synthetic structures (images may use any integer labels).
PORE, ACTIVE, CBD = 0, 1, 2
PHASE_NAMES = {"pore": PORE, "active": ACTIVE, "cbd": CBD}
