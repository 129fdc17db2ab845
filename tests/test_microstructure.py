"""Synthetic electrodes, image readers, morphology metrics, the stage and its CLI."""
import json

import h5py
import numpy as np
import pytest
from conftest import REPO, run_mpi

from bda_hpc.errors import BdaError, InputError
from bda_hpc.microstructure import ACTIVE, CBD, PORE
from bda_hpc.microstructure.generate import ParticleSpec, generate, paint_ellipsoid, shape_matrix
from bda_hpc.microstructure.images import phase_label, read_image
from bda_hpc.microstructure.metrics import connectivity, specific_surface_area


def paint_reference(shape, center, q):
    """NumPy twin of paint_ellipsoid: every voxel centre tested at once."""
    grids = np.meshgrid(*(np.arange(n) + 0.5 for n in shape), indexing="ij")
    d = np.stack([g - c for g, c in zip(grids, center)], axis=-1)
    return np.einsum("...i,ij,...j->...", d, q, d) <= 1.0


@pytest.mark.parametrize("aspect", [(1, 1, 1), (2.0, 1.0, 0.6)])
def test_paint_matches_numpy_twin(aspect):
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_euler("xyz", [0.3, -0.7, 1.1]).as_matrix()
    q = shape_matrix(6.3, aspect, rot)
    labels = np.zeros((20, 22, 18), dtype=np.uint8)
    labels[0, 0, 0] = 2  # painted only where still pore
    center = np.array([9.2, 1.5, 17.0])  # cut by two faces
    changed = paint_ellipsoid(labels, center, q, 1)
    ref = paint_reference(labels.shape, center, q)
    ref[0, 0, 0] = False
    assert np.array_equal(labels == 1, ref) and changed == ref.sum()


def test_generation_is_reproducible_and_hits_targets():
    spec = ParticleSpec(shape=[40, 40, 40], voxel_size=0.5e-6, porosity=0.4, radius_mean=2.5e-6,
                        radius_std=0.5e-6, cbd_fraction=0.05, seed=11)
    a, b = generate(spec), generate(spec)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, generate(ParticleSpec(**{**spec.__dict__, "seed": 12})))
    one_particle = 4 / 3 * np.pi * 5.0**3 * 3 / a.size  # a generous largest particle volume fraction
    assert abs((a == PORE).mean() - 0.4) < one_particle
    assert (a == CBD).mean() == pytest.approx(0.05, abs=1 / a.size)
    # binder sits next to active material
    from scipy import ndimage
    near = ndimage.binary_dilation(a == ACTIVE, iterations=2)
    assert near[a == CBD].mean() > 0.95


def test_ellipsoids_align_nothing_on_average():
    spec = ParticleSpec(shape=[48, 48, 48], porosity=0.5, particle_shape="ellipsoid", aspect=[2.5, 1, 1],
                        radius_mean=3e-6, radius_std=0.0, seed=3)
    img = generate(spec)
    assert abs((img == PORE).mean() - 0.5) < 0.02


def test_invalid_spec_names_the_key():
    with pytest.raises(InputError, match="porosity"):
        generate(ParticleSpec(porosity=1.2))
    with pytest.raises(InputError, match="cbd_fraction"):
        generate(ParticleSpec(porosity=0.5, cbd_fraction=0.6))


def test_specific_surface_area_of_a_sphere():
    n, r = 64, 20.0
    c = (np.arange(n) + 0.5 - n / 2) ** 2
    img = (c[:, None, None] + c[None, :, None] + c[None, None, :] <= r**2).astype(np.uint8)
    h = 1e-6
    exact = 4 * np.pi * (r * h) ** 2 / (n * h) ** 3
    assert specific_surface_area(img, 1, h) == pytest.approx(exact, rel=0.03)


def test_connectivity_counts_spanning_clusters():
    img = np.zeros((10, 10, 10), dtype=np.uint8)
    img[:, 1, 1] = 1
    img[2:4, 6, 6] = 1
    info = connectivity(img, 1)
    assert info["clusters"] == 2
    assert info["percolating_fraction"] == pytest.approx([10 / 12, 0.0, 0.0])


def test_image_formats_round_trip(tmp_path):
    import tifffile

    img = np.random.default_rng(0).integers(0, 3, (5, 6, 7)).astype(np.uint8)
    np.save(tmp_path / "a.npy", img)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["seg"] = img
        f["meta"] = np.arange(3)
    tifffile.imwrite(tmp_path / "a.tif", img)
    (tmp_path / "slices").mkdir()
    for i, sl in enumerate(img):
        tifffile.imwrite(tmp_path / "slices" / f"s{i:03d}.tif", sl)
    for name in ("a.npy", "a.h5", "a.tif", "slices"):
        assert np.array_equal(read_image(tmp_path / name), img), name


def test_bad_images_get_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "missing.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="cannot read"):
        read_image(tmp_path / "junk.npy")
    np.save(tmp_path / "float.npy", np.full((3, 3, 3), 0.5))
    with pytest.raises(InputError, match="integers"):
        read_image(tmp_path / "float.npy")
    np.save(tmp_path / "flat.npy", np.zeros((3, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="3D"):
        read_image(tmp_path / "flat.npy")
    img = np.zeros((3, 3, 3), dtype=np.uint8)
    with pytest.raises(InputError, match="does not occur"):
        phase_label(img, 4)
    with pytest.raises(InputError, match="unknown phase 'electrolite'"):
        phase_label(img, "electrolite")


STAGE_TOML = """
[microstructure]
bruggeman_porosities = [0.3, 0.55]
[microstructure.synthetic]
shape = [24, 24, 24]
voxel_size = 1e-6
porosity = 0.42
radius_mean = 3e-6
radius_std = 0.5e-6
seed = 5
"""


def test_stage_writes_electrode_h5_and_resumes(comm, tmp_path):
    from bda_hpc.io.params import read_params
    from bda_hpc.microstructure.stage import run_stage

    cfg = tmp_path / "e.toml"
    cfg.write_text(STAGE_TOML)
    path = run_stage(comm, cfg, tmp_path / "out")
    p = read_params(path)
    assert p.meta["stage"] == "microstructure"
    tau_x = p.require("tortuosity_x", units="1")
    eps = p.require("porosity", units="1")
    assert eps == pytest.approx(0.42, abs=0.03)
    assert p.require("effective_conductivity_ratio_x", units="1") == pytest.approx(eps / tau_x)
    b = p.require("bruggeman_exponent", units="1")
    assert 1.0 < b < 3.0
    assert p.require("specific_surface_area", units="1/m") > 0
    for name in ("electrode_slices.png", "bruggeman.png", "electrode_fields.xmf", "potential_x.xmf"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    # a re-run takes finished solves from the progress file: a planted value shows through
    progress = tmp_path / "out" / "microstructure_progress.json"
    saved = json.loads(progress.read_text())
    saved["results"]["structure:y"]["tortuosity"] = 123.0
    progress.write_text(json.dumps(saved))
    assert read_params(run_stage(comm, cfg, tmp_path / "out")).require("tortuosity_y") == 123.0
    # another configuration does not reuse it
    cfg.write_text(STAGE_TOML.replace("seed = 5", "seed = 6"))
    assert read_params(run_stage(comm, cfg, tmp_path / "out")).require("tortuosity_y") < 10


def test_stage_rejects_unknown_phase_without_touching_outputs(comm, tmp_path):
    from bda_hpc.microstructure.stage import run_stage

    cfg = tmp_path / "e.toml"
    cfg.write_text(STAGE_TOML.replace("[microstructure]\n", "[microstructure]\nphase = \"binder\"\n"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "electrode.h5").write_text("earlier result")
    with pytest.raises(BdaError, match="unknown phase 'binder'"):
        run_stage(comm, cfg, tmp_path / "out")
    assert (tmp_path / "out" / "electrode.h5").read_text() == "earlier result"


def test_tortuosity_cli_on_two_ranks(tmp_path):
    from mpi4py import MPI

    from bda_hpc.fem.transport import tortuosity

    img = generate(ParticleSpec(shape=[20, 20, 20], voxel_size=1e-6, porosity=0.45, radius_mean=3e-6, seed=2))
    img[10, :, :][img[10, :, :] == 0] = 1  # close every pore at x = 10: no path along x
    np.save(tmp_path / "img.npy", img)
    out = tmp_path / "t.json"
    proc = run_mpi(2, ["-m", "bda_hpc.cli", "microstructure", "tortuosity", "--image", str(tmp_path / "img.npy"),
                       "--phase", "pore", "--json", str(out)], cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["tortuosity_x"] == float("inf")
    assert result["porosity"] == pytest.approx((img == 0).mean())
    serial = tortuosity(MPI.COMM_SELF, img == 0, 1, scheme="fv").tortuosity
    assert result["tortuosity_y"] == pytest.approx(serial, rel=1e-6)

    bad = run_mpi(2, ["-m", "bda_hpc.cli", "microstructure", "tortuosity", "--image", str(tmp_path / "img.npy"),
                      "--phase", "7", "--json", str(tmp_path / "bad.json")], cwd=REPO)
    assert bad.returncode != 0 and "label 7" in bad.stderr and bad.stderr.count("error") == 1
    assert not (tmp_path / "bad.json").exists()
