"""The C NNP core against its slow twins: NumPy descriptors, torch autograd, finite differences."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bda_hpc._ext.nnp import NNPCore, NNPCoreError  # noqa: E402
from bda_hpc.atomistic.descriptors import DescriptorSet, descriptors_reference  # noqa: E402
from bda_hpc.atomistic.inference import NNPEvaluator  # noqa: E402
from bda_hpc.atomistic.neighbors import build_csr  # noqa: E402
from bda_hpc.atomistic.torch_nnp import TorchNNP, autograd_energy_forces  # noqa: E402

PBC = (True, True, True)


def random_model(seed=0, cutoff=4.0, hidden=(8, 6)):
    torch.manual_seed(seed)
    dset = DescriptorSet.from_grid(cutoff, [0.01, 0.2], [2.5, 3.5], 1.5, [0.01, 0.05], [1, 2, 3.5], [-1, 1])
    tm = TorchNNP(dset.size, list(hidden), ["Li"])
    with torch.no_grad():
        tm.energy_ref[0] = -1.9
        tm.shift[0] = torch.rand(dset.size)
        tm.scale[0] = 0.5 + torch.rand(dset.size)
    return tm, tm.to_model(dset)


def small_cell(seed=1):
    """Two atoms in a triclinic cell smaller than twice the cutoff, off their lattice sites."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.4, 0.3, 0.0], [0.2, 3.5, 0.1], [0.0, 0.4, 3.3]])
    pos = np.array([[0.0, 0.0, 0.0], [1.7, 1.75, 1.65]]) + rng.normal(0, 0.15, (2, 3))
    return pos, cell


def test_descriptors_match_numpy_twin():
    _, model = random_model()
    net = model.networks[0]
    pos, cell = small_cell()
    csr = build_csr(pos, cell, PBC, model.descriptors.cutoff)
    G, _ = NNPCore(model.to_text()).descriptors(2, np.zeros(2, np.int32), csr.offsets, csr.neigh, csr.vec, False)
    ref = (descriptors_reference(pos, cell, PBC, model.descriptors) - net.shift) / net.scale
    assert np.allclose(G, ref, rtol=1e-12, atol=1e-12)


def test_descriptor_derivatives_match_finite_differences():
    _, model = random_model()
    pos, cell = small_cell(3)
    core = NNPCore(model.to_text())
    csr = build_csr(pos, cell, PBC, model.descriptors.cutoff)
    types = np.zeros(2, np.int32)
    _, dG = core.descriptors(2, types, csr.offsets, csr.neigh, csr.vec)
    h = 1e-6
    for p in (0, len(csr.vec) // 2, len(csr.vec) - 1):
        i = np.searchsorted(csr.offsets, p, side="right") - 1
        for x in range(3):
            vp, vm = csr.vec.copy(), csr.vec.copy()
            vp[p, x] += h
            vm[p, x] -= h
            Gp, _ = core.descriptors(2, types, csr.offsets, csr.neigh, vp, False)
            Gm, _ = core.descriptors(2, types, csr.offsets, csr.neigh, vm, False)
            assert np.allclose((Gp[i] - Gm[i]) / (2 * h), dG[p, :, x], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("seed", [1, 2])
def test_energy_forces_match_torch_autograd(seed):
    tm, model = random_model(seed)
    from ase.build import bulk

    atoms = bulk("Li", "bcc", a=3.45, cubic=True).repeat((2, 2, 3))
    atoms.rattle(0.1, seed=seed)
    atoms.set_cell(atoms.cell.array @ np.array([[1, 0.05, 0], [0, 1, 0.03], [0, 0, 1]]), scale_atoms=True)
    pos, cell = atoms.positions, atoms.cell.array
    r = NNPEvaluator(model).compute(atoms.get_chemical_symbols(), pos, cell)
    e_ref, f_ref = autograd_energy_forces(tm, model.descriptors, np.zeros(len(atoms)), pos, cell, PBC)
    assert abs(r.energy - e_ref) <= 1e-6 * abs(e_ref)
    assert np.allclose(r.forces, f_ref, rtol=1e-6, atol=1e-6 * np.abs(f_ref).max())
    assert abs(r.forces.sum(axis=0)).max() < 1e-12  # Newton's third law


def test_forces_and_virial_match_finite_differences():
    _, model = random_model(4)
    ev = NNPEvaluator(model)
    pos, cell = small_cell(5)
    sym = ["Li", "Li"]
    r = ev.compute(sym, pos, cell)
    h = 1e-5
    for a in range(2):
        for x in range(3):
            p1, p2 = pos.copy(), pos.copy()
            p1[a, x] += h
            p2[a, x] -= h
            fd = -(ev.compute(sym, p1, cell).energy - ev.compute(sym, p2, cell).energy) / (2 * h)
            assert abs(fd - r.forces[a, x]) < 1e-8 + 1e-6 * abs(r.forces[a, x])
    # stress = (1/V) dE/d(strain), symmetric strain
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    eps = 1e-6
    for k, (a, b) in enumerate(voigt):
        d = np.zeros((3, 3))
        d[a, b] = d[b, a] = eps / (1 if a == b else 2)
        ep = ev.compute(sym, pos @ (np.eye(3) + d), cell @ (np.eye(3) + d)).energy
        em = ev.compute(sym, pos @ (np.eye(3) - d), cell @ (np.eye(3) - d)).energy
        assert abs((ep - em) / (2 * eps) / r.volume - r.stress[k]) < 1e-7


def test_ghost_atoms_as_in_lammps():
    """Neighbours given as explicit ghost copies (slots beyond nlocal): folding the ghost forces back
    onto their owners gives the periodic forces, and the virial is the same."""
    _, model = random_model(6)
    core = NNPCore(model.to_text())
    pos, cell = small_cell(7)
    n = len(pos)
    csr = build_csr(pos, cell, PBC, model.descriptors.cutoff)
    ghosts_pos, owner, neigh = [], [], []
    for p in range(len(csr.vec)):
        i = np.searchsorted(csr.offsets, p, side="right") - 1
        ghosts_pos.append(pos[i] + csr.vec[p])
        owner.append(csr.neigh[p])
        neigh.append(n + p)  # each entry its own ghost slot
    ntotal = n + len(neigh)
    types = np.zeros(ntotal, np.int32)
    f_ghost = np.zeros((ntotal, 3))
    e_ghost, w_ghost = np.zeros(n), np.zeros(6)
    core.compute(n, types, csr.offsets, np.array(neigh, np.int32), csr.vec, e_ghost, f_ghost, w_ghost)
    folded = f_ghost[:n].copy()
    np.add.at(folded, np.array(owner), f_ghost[n:])
    f, e, w = np.zeros((n, 3)), np.zeros(n), np.zeros(6)
    core.compute(n, types[:n], csr.offsets, csr.neigh, csr.vec, e, f, w)
    assert np.allclose(folded, f, atol=1e-13) and np.allclose(e_ghost, e) and np.allclose(w_ghost, w, atol=1e-13)


def test_core_rejects_bad_model_text_and_inputs():
    _, model = random_model()
    text = model.to_text()
    with pytest.raises(NNPCoreError, match="version 2"):
        NNPCore(text.replace("bda_hpc_nnp 1", "bda_hpc_nnp 2", 1))
    with pytest.raises(NNPCoreError, match="not a bda_hpc_nnp"):
        NNPCore("hello")
    with pytest.raises(NNPCoreError, match="end of file"):
        NNPCore(text[: len(text) // 2])
    core = NNPCore(text)
    pos, cell = small_cell()
    csr = build_csr(pos, cell, PBC, model.descriptors.cutoff)
    with pytest.raises(NNPCoreError, match="type 3"):
        core.compute(
            2, np.array([0, 3], np.int32), csr.offsets, csr.neigh, csr.vec, np.zeros(2), np.zeros((2, 3)), np.zeros(6)
        )
    bad = csr.neigh.copy()
    bad[0] = 7
    with pytest.raises(NNPCoreError, match="outside"):
        core.compute(2, np.zeros(2, np.int32), csr.offsets, bad, csr.vec, np.zeros(2), np.zeros((2, 3)), np.zeros(6))


def _rattled_bcc(seed):
    from ase.build import bulk

    atoms = bulk("Li", "bcc", a=3.45, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.12, seed=seed)
    atoms.set_cell(atoms.cell.array @ np.array([[1, 0.04, 0], [0, 1, 0.02], [0.03, 0, 1]]), scale_atoms=True)
    return atoms.positions, atoms.cell.array


def _core_results(core, csr, n, per_atom):
    e, f, w = np.zeros(n), np.zeros((n, 3)), np.zeros(6)
    wa = np.zeros((n, 6)) if per_atom else None
    core.compute(n, np.zeros(n, np.int32), csr.offsets, csr.neigh, csr.vec, e, f, w, wa)
    return e, f, w, wa


def test_per_atom_virial_sums_to_global_and_leaves_the_rest_bit_identical():
    _, model = random_model(8)
    core = NNPCore(model.to_text())
    pos, cell = _rattled_bcc(8)
    csr = build_csr(pos, cell, PBC, model.descriptors.cutoff)
    e, f, w, wa = _core_results(core, csr, len(pos), True)
    e0, f0, w0, _ = _core_results(core, csr, len(pos), False)
    assert np.array_equal(e, e0) and np.array_equal(f, f0) and np.array_equal(w, w0)
    assert np.abs(wa.sum(axis=0) - w).max() <= 1e-13 * np.abs(w).max()
    assert np.abs(wa).max() > 1e-3 and np.ptp(wa[:, 0]) > 1e-3  # per-atom values differ from atom to atom
    with pytest.raises(NNPCoreError, match=r"virial_atom must be \(16, 6\)"):
        core.compute(16, np.zeros(16, np.int32), csr.offsets, csr.neigh, csr.vec, e, f, w, np.zeros((16, 3)))


def test_per_atom_virial_matches_torch_autograd_pair_decomposition():
    """Independent twin: dE_i/dvec_p by torch autograd of the descriptors, each pair term
    -vec_a dE_i/dvec_b, symmetrized, split half to the centre and half to the neighbour (periodic
    images folded)."""
    from bda_hpc.atomistic.torch_nnp import _triplets, torch_descriptors

    tm, model = random_model(9)
    core = NNPCore(model.to_text())
    pos, cell = _rattled_bcc(9)
    n = len(pos)
    csr = build_csr(pos, cell, PBC, model.descriptors.cutoff)
    *_, wa = _core_results(core, csr, n, True)

    vec = torch.tensor(csr.vec, requires_grad=True)
    centre = np.repeat(np.arange(n), np.diff(csr.offsets))
    p, q = _triplets(csr.offsets)
    G = torch_descriptors(vec, torch.from_numpy(centre), torch.from_numpy(p), torch.from_numpy(q), n,
                          model.descriptors)
    t = torch.zeros(n, dtype=torch.int64)
    tm.atomic_energies((G - tm.shift[t]) / tm.scale[t], t).sum().backward()
    g, v = vec.grad.numpy(), csr.vec
    outer = -np.einsum("pa,pb->pab", v, g)
    outer = 0.5 * (outer + outer.transpose(0, 2, 1))
    terms = outer[:, [0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]]
    ref = np.zeros((n, 6))
    np.add.at(ref, centre, 0.5 * terms)
    np.add.at(ref, csr.neigh, 0.5 * terms)
    assert np.allclose(wa, ref, rtol=1e-9, atol=1e-10 * np.abs(ref).max())
