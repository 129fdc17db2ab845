"""Handlers of `bda-hpc mlff ...` (imported only when a command runs)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import InputError
from ..parallel import world

log = logging.getLogger("bda_hpc.atomistic")


def _model(args):
    from .model_file import default_model_path, load_model

    return load_model(args.model or default_model_path())


def train(args) -> int:
    import numpy as np

    from .._version import __version__
    from ..config import config_text
    from ..io.params import file_sha256, git_commit
    from .evaluate import error_metrics, format_table
    from .inference import evaluate_structures
    from .settings import load_settings, resolve
    from .structures import load_dataset
    from .training import Trainer

    comm = world()
    settings = load_settings(args.config)
    ts = settings.training
    out_dir = Path(args.out_dir)
    data_path = resolve(ts.training_data, args.config)
    test_path = resolve(ts.test_data, args.config) if ts.test_data else None
    structures = load_dataset(data_path)
    tests = load_dataset(test_path) if test_path else []
    if comm.rank != 0:  # training is serial (torch threads); other ranks only wait
        comm.Barrier()
        return 0
    dset = settings.descriptors.build()
    checkpoint = out_dir / "train_checkpoint.pt"
    trainer = Trainer(structures, dset, ts, checkpoint)
    if args.resume and not trainer.resume():
        raise InputError(f"--resume: no checkpoint {checkpoint}")
    tmodel = trainer.run()
    provenance = {
        "created": __import__("datetime").datetime.now().isoformat(timespec="seconds"),
        "code_version": __version__,
        "git_commit": git_commit(),
        "config": config_text(args.config),
        "training_data": [{"path": str(data_path), "sha256": file_sha256(data_path)}],
        "seed": ts.seed,
        "epochs": trainer.epoch,
    }
    model = tmodel.to_model(dset, provenance)
    from mpi4py import MPI

    metrics = {
        "validation": error_metrics(
            [structures[k] for k in trainer.val_idx],
            evaluate_structures(model, [structures[k] for k in trainer.val_idx], MPI.COMM_SELF),
        )
    }
    if tests:
        metrics["test"] = error_metrics(tests, evaluate_structures(model, tests, MPI.COMM_SELF))
        provenance["training_data"].append({"path": str(test_path), "sha256": file_sha256(test_path), "role": "test"})
        log.info("test set %s:\n%s", test_path, format_table(metrics["test"]))
    model.provenance["metrics"] = {k: {q: v[q] for q in v if q != "per_group"} for k, v in metrics.items()}
    target = out_dir / ts.output
    model.save(target)
    _plot_history(np.array(trainer.history), out_dir / "learning_curve.png")
    log.info("model written to %s (learning curve: %s)", target, out_dir / "learning_curve.png")
    comm.Barrier()
    return 0


def _plot_history(history, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(12, 3.5))
    labels = ["energy RMSE (meV/atom)", "force RMSE (eV/Å)", "stress RMSE (GPa)"]
    for k, label in enumerate(labels):
        ax[k].semilogy(history[:, 0], history[:, 2 + k])
        ax[k].set(xlabel="epoch", ylabel=f"validation {label}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate(args) -> int:
    from .evaluate import error_metrics, format_table
    from .inference import evaluate_structures
    from .structures import load_dataset

    comm = world()
    model = _model(args)
    structures = load_dataset(args.data)
    results = evaluate_structures(model, structures, comm)
    metrics = error_metrics(structures, results)
    metrics.update(model=str(args.model or "shipped default"), data=str(args.data))
    if comm.rank == 0:
        print(format_table(metrics))
        if args.json:
            _write_json(Path(args.json), metrics)
        if args.plot:
            _parity_plot(structures, results, Path(args.plot))
    return 0


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _parity_plot(structures, results, path: Path) -> None:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 4))
    for g in sorted({s.group for s in structures}):
        pairs = [(s, r) for s, r in zip(structures, results) if s.group == g]
        ax[0].plot([s.energy / len(s) for s, _ in pairs], [r.energy / len(s) for s, r in pairs], "o", ms=4, label=g)
        ax[1].plot(
            np.concatenate([s.forces.ravel() for s, _ in pairs]),
            np.concatenate([r.forces.ravel() for _, r in pairs]),
            ".",
            ms=2,
            label=g,
        )
    ax[0].set(xlabel="DFT energy (eV/atom)", ylabel="NNP energy (eV/atom)")
    ax[1].set(xlabel="DFT force (eV/Å)", ylabel="NNP force (eV/Å)")
    for a in ax:
        lo, hi = a.get_xlim()
        a.plot([lo, hi], [lo, hi], "k-", lw=0.5)
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def export(args) -> int:
    model = _model(args)
    if world().rank == 0:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(model.to_text())
        tmp.replace(out)
        log.info("wrote %s (%d descriptors, cutoff %.2f Å)", out, model.descriptors.size, model.descriptors.cutoff)
    return 0


def properties(args) -> int:
    from .properties_stage import run_properties

    return run_properties(args)
