from dataclasses import dataclass, field

import pytest

from bda_hpc.config import load_section
from bda_hpc.errors import ConfigError


@dataclass
class Grid:
    nx: int
    ny: int = 10


@dataclass
class Solver:
    grid: Grid
    dt: float = 0.1
    name: str = "bdf"
    tolerances: list[float] = field(default_factory=lambda: [1e-8])
    petsc: dict = field(default_factory=dict)

    def validate(self):
        return [] if self.dt > 0 else [f"dt: must be positive, got {self.dt}"]


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_reads_typed_values_and_defaults(tmp_path):
    cfg = load_section(write(tmp_path, "[solver]\ndt = 1\ngrid = {nx = 64}\n[solver.petsc]\nts_type='bdf'\n"),
                       "solver", Solver)
    assert cfg.dt == 1.0 and isinstance(cfg.dt, float)
    assert cfg.grid.nx == 64 and cfg.grid.ny == 10
    assert cfg.petsc == {"ts_type": "bdf"}


@pytest.mark.parametrize("text, words", [
    ("[solver]\ngrid = {nx = 4}\nbogus = 1\n", ["unknown key 'bogus'", "[solver]"]),
    ("[solver]\ngrid = {nx = 4, nz = 3}\n", ["unknown key 'nz'", "[solver].grid"]),
    ("[solver]\ngrid = {nx = 'many'}\n", ["[solver].grid.nx", "expected an integer"]),
    ("[solver]\ngrid = {nx = 4}\ndt = 'fast'\n", ["[solver].dt", "expected a number"]),
    ("[solver]\ngrid = {nx = 4}\ntolerances = [1e-8, 'x']\n", ["[solver].tolerances[1]"]),
    ("[solver]\ndt = 0.5\n", ["missing required key 'grid'"]),
    ("[solver]\ngrid = {nx = 4}\ndt = -1\n", ["[solver].dt: must be positive"]),
])
def test_errors_name_key_and_file(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_section(path, "solver", Solver)
    message = str(err.value)
    assert str(path) in message
    for w in words:
        assert w in message


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_section(tmp_path / "nope.toml", "solver", Solver)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_section(write(tmp_path, "[solver\n"), "solver", Solver)
