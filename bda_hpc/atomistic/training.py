"""Training the NNP in torch on DFT energies and forces.

The C core computes each structure's scaled descriptors and their derivatives with
respect to the neighbour vectors once; an epoch then only runs the per-element MLPs:
forces are F = -dE/dr = -sum_i dE/dG_i . dG_i/dr (double back-propagation through
the MLP, the descriptor derivatives fixed); the stress is the same chain rule contracted with the
neighbour vectors, sigma = (1/V) sum_p dE/dvec_p (x) vec_p (tension positive). Loss:
w_E mean(((E-E_DFT)/N)^2) [eV] + w_F mean(dF^2) [eV/Å] + w_S mean(dsigma^2) [GPa, over trusted components].
Descriptor scaling (mean/std of the training atoms), a per-atom reference energy (the
mean DFT energy per atom), a seeded validation split, learning-rate halving on plateaus,
early stopping on the validation loss, checkpoints every few epochs with resume.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .descriptors import DescriptorSet
from .model_file import ElementNetwork, NNPModel
from .neighbors import build_csr
from .properties import EV_PER_A3_TO_GPA
from .settings import TrainingSettings
from .torch_nnp import TorchNNP

log = logging.getLogger("bda_hpc.atomistic")


@dataclass
class DescriptorData:
    """Concatenated descriptor data of many structures (atoms and neighbour entries in structure order)."""

    G: np.ndarray  # (natoms, nd) raw descriptors
    dG: np.ndarray  # (nnz, nd, 3) raw derivatives w.r.t. neighbour vectors
    types: np.ndarray  # (natoms,)
    centre: np.ndarray  # (nnz,) global atom index of each entry's centre
    neigh: np.ndarray  # (nnz,) global atom index of each entry's neighbour
    atom_start: np.ndarray  # (nstruct+1,)
    pair_start: np.ndarray  # (nstruct+1,)
    energy: np.ndarray  # (nstruct,) eV
    forces: np.ndarray  # (natoms, 3) eV/Å
    vec: np.ndarray  # (nnz, 3) neighbour vectors, Å
    volume: np.ndarray  # (nstruct,) Å^3
    stress: np.ndarray  # (nstruct, 6) GPa, ASE Voigt order, tension positive (0 where absent)
    stress_mask: np.ndarray  # (nstruct, 6) bool: components to train on


def raw_descriptor_core(dset: DescriptorSet, elements: list[str]):
    """A C core whose 'scaled' descriptors are the raw ones (shift 0, scale 1, an empty network)."""
    from .._ext.nnp import NNPCore

    nd = dset.size
    nets = [ElementNetwork(s, 0.0, np.zeros(nd), np.ones(nd), [np.zeros((1, nd))], [np.zeros(1)]) for s in elements]
    return NNPCore(NNPModel(dset, nets).to_text())


def compute_descriptor_data(structures, dset: DescriptorSet, elements: list[str]) -> DescriptorData:
    core = raw_descriptor_core(dset, elements)
    index = {s: t for t, s in enumerate(elements)}
    Gs, dGs, types, centres, neighs, vecs, atom_start, pair_start = [], [], [], [], [], [], [0], [0]
    for s in structures:
        t = np.array([index[x] for x in s.symbols], dtype=np.int32)
        csr = build_csr(s.positions, s.cell, s.pbc, dset.cutoff, where=s.name)
        G, dG = core.descriptors(len(s), t, csr.offsets, csr.neigh, csr.vec)
        Gs.append(G)
        dGs.append(dG)
        types.append(t)
        centres.append(np.repeat(np.arange(len(s)), np.diff(csr.offsets)) + atom_start[-1])
        neighs.append(csr.neigh.astype(np.int64) + atom_start[-1])
        vecs.append(csr.vec)
        atom_start.append(atom_start[-1] + len(s))
        pair_start.append(pair_start[-1] + len(csr.neigh))
    return DescriptorData(
        np.concatenate(Gs),
        np.concatenate(dGs),
        np.concatenate(types),
        np.concatenate(centres),
        np.concatenate(neighs),
        np.array(atom_start),
        np.array(pair_start),
        np.array([s.energy for s in structures]),
        np.concatenate([s.forces for s in structures]),
        np.concatenate(vecs),
        np.array([abs(np.linalg.det(s.cell)) for s in structures]),
        np.array([s.stress * EV_PER_A3_TO_GPA if s.stress is not None else np.zeros(6) for s in structures]),
        np.array([s.stress_mask if s.stress is not None else np.zeros(6, bool) for s in structures]),
    )


def descriptor_scaling(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift and scale so that each descriptor has mean 0 and standard deviation 1 on the training atoms."""
    shift = G.mean(axis=0)
    std = G.std(axis=0)
    scale = np.where(std > 1e-8 * np.maximum(np.abs(shift), 1e-300), std, 1.0)
    return shift, scale


class Batches:
    """Tensors of one group of structures, with atom and entry indices local to the group."""

    def __init__(self, data: DescriptorData, structs: np.ndarray, shift, scale):
        atoms = np.concatenate([np.arange(data.atom_start[k], data.atom_start[k + 1]) for k in structs])
        pairs = np.concatenate([np.arange(data.pair_start[k], data.pair_start[k + 1]) for k in structs])
        local = np.full(len(data.types), -1, dtype=np.int64)
        local[atoms] = np.arange(len(atoms))
        counts = np.array([data.atom_start[k + 1] - data.atom_start[k] for k in structs])
        t = data.types[atoms]
        self.x = torch.from_numpy((data.G[atoms] - shift[t]) / scale[t])
        self.dx = torch.from_numpy(data.dG[pairs] / scale[data.types[data.centre[pairs]]][:, :, None])
        self.types = torch.from_numpy(t.astype(np.int64))
        self.centre = torch.from_numpy(local[data.centre[pairs]])
        self.neigh = torch.from_numpy(local[data.neigh[pairs]])
        self.struct_of_atom = torch.from_numpy(np.repeat(np.arange(len(structs)), counts))
        self.natoms = torch.from_numpy(counts.astype(np.float64))
        self.energy = torch.from_numpy(data.energy[structs])
        self.forces = torch.from_numpy(data.forces[atoms])
        self.vec = torch.from_numpy(data.vec[pairs])
        self.struct_of_pair = self.struct_of_atom[self.centre]
        self.volume = torch.from_numpy(data.volume[structs])
        self.stress = torch.from_numpy(data.stress[structs])
        self.stress_mask = torch.from_numpy(data.stress_mask[structs])


VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])  # ASE order xx yy zz yz xz xy


def predict(model: TorchNNP, b: Batches, create_graph: bool):
    """Structure energies, atomic forces and stresses (GPa) of a batch, through the fixed descriptor derivatives."""
    x = b.x.clone().requires_grad_(True)
    e_atom = model.atomic_energies(x, b.types)
    energy = torch.zeros(len(b.energy), dtype=x.dtype).index_add(0, b.struct_of_atom, e_atom)
    (g,) = torch.autograd.grad(e_atom.sum(), x, create_graph=create_graph)
    c = torch.einsum("pd,pdx->px", g[b.centre], b.dx)  # dE/dvec_p
    forces = torch.zeros_like(b.forces).index_add(0, b.centre, c).index_add(0, b.neigh, -c)
    outer = c[:, VOIGT[0]] * b.vec[:, VOIGT[1]]  # (npairs, 6)
    virial = torch.zeros_like(b.stress).index_add(0, b.struct_of_pair, outer)
    stress = virial / b.volume[:, None] * EV_PER_A3_TO_GPA
    return energy, forces, stress


def losses(model, b: Batches, settings: TrainingSettings, create_graph: bool):
    """Weighted loss and the mean-square errors of energy per atom (eV), force (eV/Å) and stress (GPa)."""
    energy, forces, stress = predict(model, b, create_graph)
    e_mse = torch.mean(((energy - b.energy) / b.natoms) ** 2)
    f_mse = torch.mean((forces - b.forces) ** 2)
    s_err = (stress - b.stress)[b.stress_mask]
    s_mse = torch.mean(s_err**2) if len(s_err) else torch.zeros((), dtype=stress.dtype)
    loss = settings.energy_weight * e_mse + settings.force_weight * f_mse + settings.stress_weight * s_mse
    return loss, e_mse, f_mse, s_mse


class Trainer:
    """Seeded training with validation split, early stopping and checkpoint/resume."""

    def __init__(self, structures, dset: DescriptorSet, settings: TrainingSettings, checkpoint: Path | None = None):
        self.settings, self.dset, self.checkpoint = settings, dset, checkpoint
        self.elements = sorted({x for s in structures for x in s.symbols})
        torch.set_num_threads(settings.threads)
        torch.manual_seed(settings.seed)
        self.rng = np.random.default_rng(settings.seed)
        order = self.rng.permutation(len(structures))
        nval = max(1, int(round(settings.validation_fraction * len(structures))))
        self.val_idx, self.train_idx = np.sort(order[:nval]), np.sort(order[nval:])
        t0 = time.perf_counter()
        self.data = compute_descriptor_data(structures, dset, self.elements)
        log.info(
            "descriptors of %d structures (%d atoms, %d descriptors) in %.1f s",
            len(structures),
            len(self.data.types),
            dset.size,
            time.perf_counter() - t0,
        )
        train_atoms = np.concatenate(
            [np.arange(self.data.atom_start[k], self.data.atom_start[k + 1]) for k in self.train_idx]
        )
        self.model = TorchNNP(dset.size, settings.hidden, self.elements)
        shift = np.zeros((len(self.elements), dset.size))
        scale = np.ones_like(shift)
        for t in range(len(self.elements)):
            mine = train_atoms[self.data.types[train_atoms] == t]
            shift[t], scale[t] = descriptor_scaling(self.data.G[mine])
        self.shift, self.scale = shift, scale
        per_atom = np.array(
            [self.data.energy[k] / (self.data.atom_start[k + 1] - self.data.atom_start[k]) for k in self.train_idx]
        )
        with torch.no_grad():
            self.model.shift.copy_(torch.from_numpy(shift))
            self.model.scale.copy_(torch.from_numpy(scale))
            self.model.energy_ref.fill_(float(per_atom.mean()))  # one element: the mean DFT energy per atom
        self.val = Batches(self.data, self.val_idx, shift, scale)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=0.5, patience=settings.lr_patience
        )
        self.epoch, self.best_val, self.bad_epochs, self.best_state = 0, np.inf, 0, None
        self.history: list[tuple] = []

    def state(self) -> dict:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best_val": self.best_val,
            "bad_epochs": self.bad_epochs,
            "best_state": self.best_state,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "seed": self.settings.seed,
        }

    def resume(self) -> bool:
        if self.checkpoint is None or not self.checkpoint.is_file():
            return False
        st = torch.load(self.checkpoint, weights_only=False)
        if st["seed"] != self.settings.seed:
            from ..errors import InputError

            raise InputError(
                f"{self.checkpoint}: checkpoint was made with seed {st['seed']}, config has {self.settings.seed}"
            )
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.epoch, self.best_val, self.bad_epochs = st["epoch"], st["best_val"], st["bad_epochs"]
        self.best_state, self.history = st["best_state"], st["history"]
        torch.set_rng_state(st["torch_rng"])
        self.rng.bit_generator.state = st["numpy_rng"]
        log.info("resumed training from %s at epoch %d", self.checkpoint, self.epoch)
        return True

    def save_checkpoint(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
            torch.save(self.state(), tmp)
            tmp.replace(self.checkpoint)

    def run(self) -> TorchNNP:
        s = self.settings
        t0 = time.perf_counter()
        while self.epoch < s.epochs:
            self.model.train()
            perm = self.rng.permutation(self.train_idx)
            for start in range(0, len(perm), s.batch_structures):
                batch = Batches(self.data, np.sort(perm[start : start + s.batch_structures]), self.shift, self.scale)
                self.optimizer.zero_grad()
                loss = losses(self.model, batch, s, create_graph=True)[0]
                loss.backward()
                self.optimizer.step()
            val_loss, e_mse, f_mse, s_mse = (
                float(v.detach()) for v in losses(self.model, self.val, s, create_graph=False)
            )
            self.scheduler.step(val_loss)
            self.epoch += 1
            self.history.append((self.epoch, val_loss, np.sqrt(e_mse) * 1e3, np.sqrt(f_mse), np.sqrt(s_mse)))
            if val_loss < self.best_val:
                self.best_val, self.bad_epochs = val_loss, 0
                self.best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
            else:
                self.bad_epochs += 1
            lr = self.optimizer.param_groups[0]["lr"]
            if self.epoch % 10 == 0 or self.epoch == 1:
                log.info(
                    "epoch %4d  validation RMSE: energy %.3f meV/atom, force %.4f eV/Å, stress %.3f GPa"
                    "  lr %.1e  (%.0f s)",
                    self.epoch,
                    np.sqrt(e_mse) * 1e3,
                    np.sqrt(f_mse),
                    np.sqrt(s_mse),
                    lr,
                    time.perf_counter() - t0,
                )
            if self.epoch % s.checkpoint_every == 0:
                self.save_checkpoint()
            if self.bad_epochs >= s.patience or lr < s.min_learning_rate:
                log.info("early stop at epoch %d (best validation loss %.3e)", self.epoch, self.best_val)
                break
        self.save_checkpoint()  # the last state, so that a resume with more epochs continues from it
        self.model.load_state_dict(self.best_state)
        return self.model
