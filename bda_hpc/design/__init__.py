"""AI layer: simulation sweeps -> torch surrogates -> Bayesian inverse design, verified by the simulators.

``space`` (design variables, bounds the simulators accept, LHS/Sobol sampling), ``dataset`` (the table
of runs with failures kept, HDF5 with provenance), ``surrogate`` (deep MLP ensembles with uncertainty),
``acquisition`` (constrained expected improvement, constant-liar batches), ``loop`` (propose ->
simulate -> refit, checkpointed, with every proposed optimum re-simulated), ``evaluate`` (serial and
process-pool runners), ``problems`` (analytic test problems and the DFN fast-charge problem),
``stage`` / ``cli`` (``bda-hpc design``), ``plots``.
"""
