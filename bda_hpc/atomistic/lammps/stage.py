"""The `bda-hpc md` command: settings, model and plugin, the tasks, results.json and li_metal.h5."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from ...config import config_text, load_section
from ...errors import ConfigError
from ...parallel import world
from .environment import LammpsEnv
from .inputs import model_text, nnp_potential
from .models import trained_model_path
from .settings import MDSettings
from .workflows import MDStage, parameters

log = logging.getLogger("bda_hpc.md")


def _relative_to_config(value: str, config: str | None) -> str:
    if not value or Path(value).is_absolute() or not config:
        return value
    return str((Path(config).resolve().parent / value).resolve())


def load_settings(config: str | None, overrides: dict) -> MDSettings:
    settings = load_section(config, "md", MDSettings, overrides)
    settings.model = _relative_to_config(settings.model, config)
    settings.plugin = _relative_to_config(settings.plugin, config)
    return settings


def run_stage(args) -> int:
    if world().size > 1:
        raise ConfigError("bda-hpc md starts LAMMPS with its own MPI launcher ([md] nprocs ranks): run it as one "
                          "process, not under mpiexec")
    overrides = {k: v for k, v in (("model", args.model), ("plugin", args.plugin), ("nprocs", args.nprocs))
                 if v is not None}
    settings = load_settings(args.config, overrides)
    tasks = args.task or [t for t in ("run", "diffusion", "surface", "deposition") if getattr(settings, t).enabled]
    env = LammpsEnv.load(settings.plugin or None)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = trained_model_path(settings.model or None)
    text = model_text(model, out)
    stage = MDStage(settings, env, nnp_potential(env.plugin, text, ["Li"]), out, model)

    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for task in tasks:
        log.info("task %s", task)
        results[task] = getattr(stage, task)()
        tmp = results_path.with_name("results.json.tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(results_path)

    from ...io.params import select_by_stage

    upstream = select_by_stage(args.params, "atomistic") if args.params else None
    new = parameters(results, upstream.get("vacancy_formation_energy", units="eV") if upstream else None)
    if new:
        _write_li_metal(out / "li_metal.h5", new, results, upstream, args, model)
    log.info("md: results in %s", out)
    return 0


def _write_li_metal(path: Path, new: dict, results: dict, upstream, args, model: Path) -> None:
    """li_metal.h5: the upstream atomistic parameters (when --params gives them) with the MD ones added."""
    from ...io.params import write_params

    merged = dict(upstream.parameters) if upstream else {}
    replaced = sorted(set(merged) & set(new))
    if replaced:
        log.info("li_metal.h5: MD values replace the upstream %s", ", ".join(replaced))
    merged.update(new)
    res = {"md": {k: _tree(v) for k, v in results.items() if k in ("diffusion", "surface", "deposition")}}
    inputs = [str(upstream.path)] if upstream else []
    write_params(path, "atomistic", merged, results=res, config=config_text(args.config) if args.config else "",
                 inputs=[*inputs, str(model)])
    log.info("wrote %s (%d parameters)", path, len(merged))


def _tree(value):
    """results.json values as HDF5 groups/datasets: lists of records (NEB events) become groups by name."""
    import numpy as np

    if isinstance(value, dict):
        return {k: _tree(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return {str(v.get("name", i)): _tree(v) for i, v in enumerate(value)}
    return np.asarray(value) if isinstance(value, list) else value
