"""Cell scale: the Doyle-Fuller-Newman (P2D) model with a lumped thermal option.

Python API (what design loops call)::

    from bda_hpc.cell.simulate import simulate
    res = simulate({"negative.thickness": 7e-5}, [{"mode": "current", "c_rate": 1.0}], thermal=True)
    res["discharge_capacity"], res["voltage"], res.summary, res.series

``CellSimulation`` keeps one set-up (parameters, mesh, Jacobian pattern, PETSc objects) for many
experiments. Modules: ``params`` (parameter sets as JSON data, shipped in ``data/``), ``grid``
(finite-volume mesh and state layout, and why finite volumes), ``residual_ref`` (readable NumPy
twin of the compiled residual in ``csrc/dfn_kernel.pyx``), ``kernel`` (Jacobian pattern and
colouring), ``solver`` (PETSc TS/SNES, prefix ``dfn_``, events), ``experiment`` (steps),
``results`` (time series, summary), ``stage`` (``bda-hpc cell``, cell.h5), ``sweep`` (many cells
over MPI), ``pybamm_import`` and ``pybamm_peer`` (PyBaMM as importer and as the peer we validate
against).
"""
