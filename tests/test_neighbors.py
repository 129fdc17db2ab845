"""The compiled cell-list neighbour search against a brute-force NumPy twin."""
import itertools

import numpy as np
import pytest

from bda_hpc._ext.neighbors import neighbor_list


def brute_force(positions, cell, cutoff, pbc):
    """Every image within reach of every atom: obviously correct, O(N^2 * images)."""
    recip_norm = np.linalg.norm(np.linalg.inv(cell).T, axis=1)
    reach = [int(np.ceil(cutoff * recip_norm[k])) + 1 if pbc[k] else 0 for k in range(3)]
    pairs = {}
    for shift in itertools.product(*(range(-r, r + 1) for r in reach)):
        vec = positions[None, :, :] + np.array(shift) @ cell - positions[:, None, :]
        dist = np.linalg.norm(vec, axis=2)
        for i, j in zip(*np.nonzero(dist < cutoff)):
            if i == j and not any(shift):
                continue
            pairs[(i, j, *shift)] = vec[i, j]
    return pairs


def as_dict(i, j, shift, vec):
    return {(a, b, *s): v for a, b, s, v in zip(i, j, map(tuple, shift), vec)}


CASES = [
    # (cell, natoms, cutoff, pbc)
    (np.diag([10.0, 11.0, 12.0]), 40, 3.0, (True, True, True)),
    (np.array([[6.0, 0, 0], [2.5, 5.5, 0], [1.0, 1.5, 6.5]]), 25, 3.2, (True, True, True)),  # triclinic
    (np.array([[3.5, 0, 0], [1.2, 3.1, 0], [0.4, 0.9, 3.3]]), 3, 5.2, (True, True, True)),   # cell << 2 rc
    (np.diag([9.0, 9.0, 30.0]), 30, 3.5, (True, True, False)),                               # slab
]


@pytest.mark.parametrize("cell, natoms, cutoff, pbc", CASES)
def test_matches_brute_force(cell, natoms, cutoff, pbc):
    rng = np.random.default_rng(7)
    # some atoms outside the cell: the search must wrap them itself
    positions = (rng.random((natoms, 3)) * 1.4 - 0.2) @ cell
    if not pbc[2]:
        positions[:, 2] = rng.random(natoms) * 12 + 5
    got = as_dict(*neighbor_list(np.ascontiguousarray(positions), np.ascontiguousarray(cell), cutoff, pbc))
    want = brute_force(positions, cell, cutoff, pbc)
    assert set(got) == set(want)
    for key, vec in want.items():
        np.testing.assert_allclose(got[key], vec, atol=1e-12)


def test_bcc_coordination():
    a = 3.44
    cell = np.eye(3) * a * 4
    base = np.array([[0, 0, 0], [0.5, 0.5, 0.5]])
    grid = np.array(list(itertools.product(range(4), repeat=3)))
    positions = ((grid[:, None, :] + base[None]).reshape(-1, 3) * a).copy()
    i, _, _, vec = neighbor_list(positions, cell, 0.9 * a)   # first shell 0.866 a, second a
    counts = np.bincount(i, minlength=len(positions))
    assert np.all(counts == 8)
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), np.sqrt(3) / 2 * a)


def test_rejects_flat_cell_and_bad_cutoff():
    pos = np.zeros((2, 3))
    with pytest.raises(ValueError, match="zero volume"):
        neighbor_list(pos, np.diag([1.0, 1.0, 0.0]), 2.0)
    with pytest.raises(ValueError, match="cutoff"):
        neighbor_list(pos, np.eye(3), -1.0)
