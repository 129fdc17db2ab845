"""ASE calculator for the NNP (energy, per-atom energies, forces, stress) on the C core.

Works with ASE's MD integrators, optimisers, NEB, EOS and elastic tools. With a
communicator of several ranks, every rank must call it with the same atoms (the
evaluation is parallel over atoms); the default is serial (COMM_SELF).
"""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes

from .inference import NNPEvaluator
from .model_file import NNPModel, default_model_path, load_model
from .neighbors import MIN_DISTANCE


class NNPCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model: NNPModel | str | None = None, comm=None, min_distance: float = MIN_DISTANCE, **kwargs):
        super().__init__(**kwargs)
        if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
            model = load_model(model if model is not None else default_model_path())
        self.evaluator = NNPEvaluator(model, comm, min_distance)
        self.comm = self.evaluator.comm

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms
        r = self.evaluator.compute(
            a.get_chemical_symbols(), a.positions, a.cell.array, a.pbc, where=f"atoms {a.get_chemical_formula()}"
        )
        self.results = {
            "energy": r.energy,
            "free_energy": r.energy,
            "energies": r.energies,
            "forces": r.forces,
            "stress": r.stress,
        }
