import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import run_mpi

from bda_hpc.errors import InputError
from bda_hpc.io.fields import Block, read_checkpoint, read_fields, write_checkpoint, write_fields
from bda_hpc.parallel import split_evenly


def global_array(shape, seed=3):
    return np.random.default_rng(seed).standard_normal(shape)


def row_block(shape, size, rank):
    rows = split_evenly(shape[0], size, rank)
    return Block(tuple(shape), (rows.start,) + (0,) * (len(shape) - 1), (len(rows),) + tuple(shape[1:]),
                 spacing=(0.5,) * len(shape), origin=(0.0,) * len(shape))


def test_serial_round_trip_and_xdmf(tmp_path):
    data = global_array((6, 7, 5))
    block = Block.whole(data.shape, spacing=(1, 2, 3), origin=(0, 0, 0))
    path = write_fields(tmp_path / "f.h5", {"xi": data}, block, attrs={"time": 2.5})
    np.testing.assert_array_equal(read_fields(path, ["xi"], block)["xi"], data)
    root = ET.parse(path.with_suffix(".xmf")).getroot()
    grid = root.find("Domain/Grid")
    assert grid.find("Topology").get("Dimensions") == "6 7 5"
    assert grid.find("Attribute/DataItem").text == "f.h5:/xi"
    assert float(grid.find("Time").get("Value")) == 2.5


def test_wrong_grid_and_missing_field(tmp_path):
    data = global_array((4, 4))
    path = write_fields(tmp_path / "f.h5", {"c": data}, Block.whole(data.shape))
    with pytest.raises(InputError, match="grid"):
        read_fields(path, ["c"], Block.whole((5, 4)))
    with pytest.raises(InputError, match="no field 'phi'"):
        read_fields(path, ["phi"], Block.whole((4, 4)))


def test_checkpoint_refuses_other_model(tmp_path):
    data = global_array((4, 4))
    block = Block.whole(data.shape)
    path = write_checkpoint(tmp_path / "chk.h5", {"c": data}, block, None, {"time": 1.0, "model": "cahn_hilliard"})
    fields, state = read_checkpoint(path, ["c"], block, None, expect={"model": "cahn_hilliard"})
    np.testing.assert_array_equal(fields["c"], data)
    assert state["time"] == 1.0
    with pytest.raises(InputError, match="model"):
        read_checkpoint(path, ["c"], block, None, expect={"model": "li_deposition"})


@pytest.mark.mpi
@pytest.mark.parametrize("shape", [(9, 6), (5, 4, 3)])
def test_two_rank_write_reads_back_on_one_rank_and_reverse(comm, shared_tmp, shape):
    from mpi4py import MPI

    data = global_array(shape)
    block = row_block(shape, comm.size, comm.rank)
    path = write_fields(shared_tmp / f"par{len(shape)}.h5", {"u": data[block.slices]}, block, comm)
    if comm.rank == 0:   # the whole array on one rank
        whole = read_fields(path, ["u"], Block.whole(shape), MPI.COMM_SELF)["u"]
        np.testing.assert_array_equal(whole, data)
    # the reverse: one rank writes everything, every rank reads its own rows
    serial_path = shared_tmp / f"ser{len(shape)}.h5"
    if comm.rank == 0:
        write_fields(serial_path, {"u": data}, Block.whole(shape), MPI.COMM_SELF)
    comm.Barrier()
    mine = read_fields(serial_path, ["u"], block, comm)["u"]
    np.testing.assert_array_equal(mine, data[block.slices])


RANK_DEPENDENT_CHECKPOINTS = """
import json, sys
import numpy as np
from mpi4py import MPI
from bda_hpc.io.fields import Block, read_attrs, write_checkpoint
comm = MPI.COMM_WORLD
rows = 8 // comm.size
block = Block((8, 8), (comm.rank * rows, 0), (rows, 8))
for i in range(40):
    # a rank-local value whose text length differs between ranks, as a per-rank wall time is
    state = {"step": i, "wall_s": "9" * (2000 + 37 * i * (comm.rank + 1))}
    write_checkpoint(sys.argv[1], {"u": np.full(block.local_shape, float(i))}, block, comm, state)
if comm.rank == 0:
    print(len(json.loads(read_attrs(sys.argv[1])["state"])["wall_s"]))
"""


def test_checkpoint_with_rank_dependent_state_completes_and_keeps_rank_0s(tmp_path):
    # Before attributes were broadcast from rank 0, such writes hung inside HDF5 within a few iterations.
    path = tmp_path / "ck.h5"
    result = run_mpi(2, ["-c", RANK_DEPENDENT_CHECKPOINTS, str(path)], timeout=90)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) == 2000 + 37 * 39
    assert not list(tmp_path.glob(".ck.h5.tmp*"))
