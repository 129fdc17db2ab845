"""NNP inference through the C core: one configuration parallel over atoms, data sets over structures.

Parallel over atoms: every rank builds the (cheap) full neighbour list, computes the
energies of its block of centres and the forces they cause on every atom, and the
forces, energies and virial are summed with Allreduce, so all ranks hold the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..parallel import split_evenly
from .model_file import NNPModel
from .neighbors import MIN_DISTANCE, build_csr


@dataclass
class NNPResult:
    energy: float  # eV
    energies: np.ndarray  # (N,) eV
    forces: np.ndarray  # (N, 3) eV/Å
    virial: np.ndarray  # (6,) eV, xx yy zz xy xz yz (LAMMPS sign)
    volume: float  # Å^3

    @property
    def stress(self) -> np.ndarray:
        """ASE stress (eV/Å^3, Voigt xx yy zz yz xz xy, tension positive) = -virial / V."""
        xx, yy, zz, xy, xz, yz = self.virial
        return -np.array([xx, yy, zz, yz, xz, xy]) / self.volume


class NNPEvaluator:
    """Energies, forces and virial of a model; collective over ``comm`` (parallel over atoms)."""

    def __init__(self, model: NNPModel, comm=None, min_distance: float = MIN_DISTANCE):
        from mpi4py import MPI

        from .._ext.nnp import NNPCore

        self.model = model
        self.comm = comm if comm is not None else MPI.COMM_SELF
        self.min_distance = min_distance
        self.core = NNPCore(model.to_text())
        self._index = {symbol: t for t, symbol in enumerate(model.elements)}

    @property
    def cutoff(self) -> float:
        return self.model.descriptors.cutoff

    def types(self, symbols, where: str = "structure") -> np.ndarray:
        try:
            return np.array([self._index[s] for s in symbols], dtype=np.int32)
        except KeyError as exc:
            k = list(symbols).index(exc.args[0])
            raise InputError(
                f"{where}: unknown element {exc.args[0]!r} at atom {k}; "
                f"the model knows {', '.join(self.model.elements)}"
            ) from None

    def compute(self, symbols, positions, cell, pbc=(True, True, True), where: str = "structure") -> NNPResult:
        types = self.types(symbols, where)
        n = len(types)
        csr = build_csr(positions, cell, pbc, self.cutoff, self.min_distance, where)
        block = split_evenly(n, self.comm.size, self.comm.rank)
        offsets, neigh, vec = csr.rotated(block.start, block.stop, n)
        forces = np.zeros((n, 3))
        energies = np.zeros(n)
        virial = np.zeros(6)
        self.core.compute(
            len(block),
            np.ascontiguousarray(np.roll(types, -block.start)),
            offsets,
            neigh,
            vec,
            energies,
            forces,
            virial,
        )
        forces, energies = np.roll(forces, block.start, axis=0), np.roll(energies, block.start)
        if self.comm.size > 1:
            from mpi4py import MPI

            for buf in (forces, energies, virial):
                self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        return NNPResult(float(energies.sum()), energies, forces, virial, float(abs(np.linalg.det(cell))))

    def compute_structure(self, structure) -> NNPResult:
        return self.compute(structure.symbols, structure.positions, structure.cell, structure.pbc, structure.name)


def evaluate_structures(model: NNPModel, structures: list, comm) -> list[NNPResult]:
    """Every structure's result on every rank; ranks share the structures (parallel over structures)."""
    from mpi4py import MPI

    evaluator = NNPEvaluator(model, MPI.COMM_SELF)
    mine = split_evenly(len(structures), comm.size, comm.rank)
    local = [evaluator.compute_structure(structures[k]) for k in mine]
    if comm.size == 1:
        return local
    return [result for part in comm.allgather(local) for result in part]
