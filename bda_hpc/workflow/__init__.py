"""The batch driver: run the multi-scale pipeline on one machine or as SLURM jobs.

A pipeline spec (TOML, see :mod:`.spec`) lists stages: a ``bda-hpc``
sub-command (or a python script) with its config, ranks, wall time, memory,
and the parameter files it reads and writes. The driver derives the stage
graph from the files (:mod:`.plan`), checks everything it can before anything
runs (cycles, files nobody writes, parameters nobody provides, more ranks
than the allocation), and writes a run directory (:mod:`.rundir`).

Executors: :mod:`.local` (``bda-hpc run``) runs stages under ``mpiexec``,
independent ones side by side; :mod:`.slurm` (``bda-hpc submit``) submits one
job per stage chained with ``--dependency=afterok`` and one job array per
sweep. Both run each stage through :mod:`.job`, which records the outcome in
``RUN_DIR/state/`` (:mod:`.state`); a re-run skips stages whose inputs,
config and outputs are unchanged, and re-runs everything downstream of a
change. ``bda-hpc status`` (:mod:`.status`) and ``bda-hpc report``
(:mod:`.report`) read those records.

Sweeps: ``[stage.sweep]`` with ``values = {"model.alpha" = [0.1, 1.0]}``
runs the stage once per point (grid or list) with ``--set model.alpha=0.1``
appended to its command line and its own out dir ``case-NNNN/``; the scalar
parameters of all cases are gathered into ``<stage>_sweep.h5`` (:mod:`.sweep`).
A stage supports sweeps by accepting ``--set`` (:mod:`.overrides` has the
parser and a ``load_section`` that applies them). See ``jobscripts/README.md``.
"""
