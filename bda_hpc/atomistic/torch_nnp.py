"""The same NNP in torch: per-element MLPs for training, and a pure-torch descriptor path.

``TorchNNP`` maps scaled descriptors to atomic energies (training feeds it the C core's
descriptors). ``autograd_energy_forces`` computes the descriptors from positions in torch
and takes forces by autograd: the independent implementation the C core is checked
against, and the "torch autograd" peer in benchmarks/mlff.py.
"""

from __future__ import annotations

import numpy as np
import torch

from .descriptors import DescriptorSet
from .model_file import ElementNetwork, NNPModel
from .neighbors import build_csr


class TorchNNP(torch.nn.Module):
    def __init__(self, n_descriptors: int, hidden: list[int], elements: list[str]):
        super().__init__()
        self.elements = list(elements)
        sizes = [n_descriptors, *hidden, 1]
        nets = []
        for _ in elements:
            layers = []
            for k in range(len(sizes) - 1):
                layers.append(torch.nn.Linear(sizes[k], sizes[k + 1], dtype=torch.float64))
                if k < len(sizes) - 2:
                    layers.append(torch.nn.Tanh())
            nets.append(torch.nn.Sequential(*layers))
        self.nets = torch.nn.ModuleList(nets)
        ne = len(elements)
        self.register_buffer("energy_ref", torch.zeros(ne, dtype=torch.float64))
        self.register_buffer("shift", torch.zeros(ne, n_descriptors, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(ne, n_descriptors, dtype=torch.float64))

    def atomic_energies(self, x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Atomic energies (eV) from scaled descriptors x (natoms, nd)."""
        if len(self.nets) == 1:
            return self.nets[0](x).squeeze(-1) + self.energy_ref[0]
        out = torch.zeros(len(x), dtype=x.dtype)
        for t, net in enumerate(self.nets):
            mask = types == t
            out = out.index_put((mask,), net(x[mask]).squeeze(-1) + self.energy_ref[t])
        return out

    @classmethod
    def from_model(cls, model: NNPModel) -> TorchNNP:
        tm = cls(model.descriptors.size, model.hidden, model.elements)
        with torch.no_grad():
            for t, (net, en) in enumerate(zip(tm.nets, model.networks)):
                linears = [m for m in net if isinstance(m, torch.nn.Linear)]
                for lin, w, b in zip(linears, en.weights, en.biases):
                    lin.weight.copy_(torch.from_numpy(np.asarray(w)))
                    lin.bias.copy_(torch.from_numpy(np.asarray(b)))
                tm.energy_ref[t] = en.energy_ref
                tm.shift[t] = torch.from_numpy(np.asarray(en.shift))
                tm.scale[t] = torch.from_numpy(np.asarray(en.scale))
        return tm

    def to_model(self, descriptors: DescriptorSet, provenance: dict | None = None) -> NNPModel:
        networks = []
        for t, (symbol, net) in enumerate(zip(self.elements, self.nets)):
            linears = [m for m in net if isinstance(m, torch.nn.Linear)]
            networks.append(
                ElementNetwork(
                    symbol,
                    float(self.energy_ref[t]),
                    self.shift[t].numpy().copy(),
                    self.scale[t].numpy().copy(),
                    [lin.weight.detach().numpy().copy() for lin in linears],
                    [lin.bias.detach().numpy().copy() for lin in linears],
                )
            )
        return NNPModel(descriptors, networks, "tanh", dict(provenance or {}))


def _cutoff(r, rc):
    return torch.where(r < rc, 0.5 * (torch.cos(np.pi * r / rc) + 1.0), torch.zeros_like(r))


def _triplets(offsets: np.ndarray):
    """Index pairs (p, q), p < q, of CSR entries that share a centre."""
    cache, ps, qs = {}, [], []
    for i in range(len(offsets) - 1):
        n = int(offsets[i + 1] - offsets[i])
        if n not in cache:
            cache[n] = np.triu_indices(n, 1)
        p, q = cache[n]
        ps.append(p + offsets[i])
        qs.append(q + offsets[i])
    return (np.concatenate(ps) if ps else np.zeros(0, int)), (np.concatenate(qs) if qs else np.zeros(0, int))


def torch_descriptors(
    vec: torch.Tensor, centre: torch.Tensor, p: torch.Tensor, q: torch.Tensor, natoms: int, dset: DescriptorSet
) -> torch.Tensor:
    """Raw G2/G4 (natoms, nd) from pair vectors (differentiable) and triplet entry pairs (p, q)."""
    rc = dset.cutoff
    r = torch.linalg.norm(vec, dim=1)
    fc = _cutoff(r, rc)
    g2p = torch.from_numpy(dset.g2)
    terms2 = torch.exp(-g2p[:, 0] * (r[:, None] - g2p[:, 1]) ** 2) * fc[:, None]
    G2 = torch.zeros(natoms, len(dset.g2), dtype=vec.dtype).index_add(0, centre, terms2)
    a, b = vec[p], vec[q]
    rij, rik = r[p], r[q]
    rjk = torch.linalg.norm(b - a, dim=1)
    cos = (a * b).sum(1) / (rij * rik)
    f3 = fc[p] * fc[q] * _cutoff(rjk, rc)
    g4p = torch.from_numpy(dset.g4)
    eta, zeta, lam = g4p[:, 0], g4p[:, 1], g4p[:, 2]
    terms4 = (
        2.0 ** (1 - zeta)
        * (1 + lam * cos[:, None]) ** zeta
        * torch.exp(-eta * (rij**2 + rik**2 + rjk**2)[:, None])
        * f3[:, None]
    )
    G4 = torch.zeros(natoms, len(dset.g4), dtype=vec.dtype).index_add(0, centre[p], terms4)
    return torch.cat([G2, G4], dim=1)


def autograd_energy_forces(
    tmodel: TorchNNP, dset: DescriptorSet, types: np.ndarray, positions, cell, pbc, chunk: int = 4000
):
    """Total energy and forces -dE/dr by torch autograd (centres processed in chunks to bound memory)."""
    positions = np.ascontiguousarray(positions, float)
    csr = build_csr(positions, cell, pbc, dset.cutoff)
    n = len(positions)
    centre_all = np.repeat(np.arange(n), np.diff(csr.offsets))
    neigh_all = csr.neigh.astype(np.int64)
    image = csr.vec - (positions[neigh_all] - positions[centre_all])  # constant lattice offsets
    pos = torch.tensor(positions, requires_grad=True)
    types_t = torch.from_numpy(np.asarray(types, dtype=np.int64))
    energy = 0.0
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        lo, hi = csr.offsets[start], csr.offsets[stop]
        sub_offsets = csr.offsets[start : stop + 1] - lo
        p, q = _triplets(sub_offsets)
        centre = torch.from_numpy(centre_all[lo:hi] - start)
        vec = (
            pos[torch.from_numpy(neigh_all[lo:hi])]
            - pos[torch.from_numpy(centre_all[lo:hi])]
            + torch.from_numpy(image[lo:hi])
        )
        G = torch_descriptors(vec, centre, torch.from_numpy(p), torch.from_numpy(q), stop - start, dset)
        t = types_t[start:stop]
        x = (G - tmodel.shift[t]) / tmodel.scale[t]
        e = tmodel.atomic_energies(x, t).sum()
        e.backward()
        energy += float(e.detach())
    return energy, -pos.grad.numpy()
