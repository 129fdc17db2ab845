"""Finite elements on voxel meshes: Q1 hexahedra on a PETSc DMDA, parallel assembly, CG + AMG.

``q1``: reference element matrices; ``grid``: the distributed node grid;
``assembly``: PETSc matrix and right-hand side from the compiled row kernel;
``solver``: the ``fem_``-prefixed KSP; ``transport``: effective conductivity
and tortuosity of a phase in a voxel image.
"""
