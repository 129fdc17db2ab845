"""Atomistic scale: the Li neural-network force field (Behler–Parrinello NNP).

Modules: ``descriptors`` (symmetry-function set and its NumPy twin), ``model_file``
(HDF5 model format and the text export the C core reads), ``structures`` (data sets),
``neighbors`` (CSR neighbour lists with geometry checks), ``inference`` (the C core,
MPI over atoms or structures), ``torch_nnp`` (the same model in torch, autograd),
``training``, ``calculator`` (ASE), ``evaluate``, ``properties*`` (the stage).
"""
