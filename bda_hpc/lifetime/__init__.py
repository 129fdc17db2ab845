"""Data-driven battery life prediction on measured ageing data (the ``lifetime`` stage).

Modules, each with one job:

``data``        the in-memory cell record and the readers of the two shared data sets
``cycler``      the documented format for users' own cycler data (CSV or HDF5 in, HDF5 with units out)
``quality``     per-cell quality checks (gaps, duplicates, outliers, voltage grids)
``features``    early-cycle features (ΔQ100−10(V) and friends)
``models``      regressors behind one interface: baselines, elastic net, PLS, boosted trees, torch MLP
``cyclelife``   early cycle-life prediction on the 124 LFP cells (fit on train only)
``protocol``    the train-only selection of feature set, target scale, family, hyper-parameters and clipping
``laws``        the empirical degradation law and the two forecasting networks (plain, physics-informed)
``trajectory``  capacity-trajectory and RUL forecasting on the 32 NCM811 cells, with cross-validation
``calibration`` cross-conformal forecast bands (calibrated on the other leave-cells-out folds)
``warning``     fleet-based early warning of short-lived cells
``search``      hyper-parameter grids as independent runs (local, MPI ranks or a job array)
``stage``       configuration, the run that writes ``lifetime.h5``, plots; ``cli`` the sub-command
"""
