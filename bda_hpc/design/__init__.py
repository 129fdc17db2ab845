"""AI layer: simulation sweeps -> torch surrogates -> Bayesian inverse design, verified by the simulators.

``space`` (design variables, bounds the simulators accept, LHS/Sobol sampling), ``dataset`` (the table
of runs with failures kept, HDF5 with provenance; driver sweep tables read in), ``runs`` (submit, record,
checkpoint, resume; random-search baseline), ``evaluate`` (serial and process-pool runners with a per-run
timeout), ``driver`` (batches as sweeps of the batch driver: local executor or SLURM job arrays),
``surrogate`` (deep MLP ensembles, uncertainty calibrated on validation runs, extrapolation flags),
``assessment`` (held-out R^2/MAE, interval coverage, learning curves), ``acquisition`` (constrained
expected improvement), ``loop`` (propose -> simulate -> refit with constant-liar batches; the proposed
optimum re-simulated), ``problems`` / ``phasefield_problem`` (analytic problems, DFN fast charge (b),
dendrite threshold at a fixed charge (a)), ``stage`` / ``cli`` (``bda-hpc design``, ``bda-hpc design
simulate``), ``plots``.
"""
