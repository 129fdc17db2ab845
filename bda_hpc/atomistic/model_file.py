"""The NNP model file: HDF5 (primary, versioned) and the text export that the C core reads.

HDF5 layout, format ``bda_hpc.nnp`` version 1 (units: eV, Å)::

    /                      attrs: format="bda_hpc.nnp", format_version=1, activation="tanh",
                                  elements (JSON list), energy_units="eV", length_units="Angstrom"
    /descriptors           attrs: cutoff (Å); datasets g2 (n2, 2: eta [Å^-2], rs [Å]),
                                  g4 (n4, 3: eta [Å^-2], zeta, lambda)
    /networks/<El>         attrs: energy_ref (eV/atom); datasets shift, scale (nd: descriptor
                                  scaling, G_scaled = (G - shift) / scale),
                                  layer_<l>/weight (nout, nin), layer_<l>/bias (nout);
                                  tanh on every layer but the last (linear, one output)
    /provenance            attrs: created, code_version, git_commit, config (TOML text),
                                  training_data (JSON list of {path, sha256}), seed,
                                  metrics (JSON: validation/test errors at the end of training)

The text export (csrc/nnp/README.md) holds the same numbers with 17 significant digits.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.hdf5 import open_existing
from .descriptors import DescriptorSet

FORMAT = "bda_hpc.nnp"
FORMAT_VERSION = 1
TEXT_FORMAT = "bda_hpc_nnp"


@dataclass
class ElementNetwork:
    symbol: str
    energy_ref: float
    shift: np.ndarray
    scale: np.ndarray
    weights: list  # per layer (nout, nin)
    biases: list  # per layer (nout,)


@dataclass
class NNPModel:
    descriptors: DescriptorSet
    networks: list
    activation: str = "tanh"
    provenance: dict = field(default_factory=dict)

    @property
    def elements(self) -> list[str]:
        return [net.symbol for net in self.networks]

    @property
    def hidden(self) -> list[int]:
        return [w.shape[0] for w in self.networks[0].weights[:-1]]

    def to_text(self) -> str:
        """The model in the C core's text format (version 1)."""
        fmt = "{:.17g}".format
        lines = [
            f"{TEXT_FORMAT} 1",
            f"elements {len(self.networks)} " + " ".join(self.elements),
            f"cutoff {fmt(self.descriptors.cutoff)}",
            f"activation {self.activation}",
            f"g2 {len(self.descriptors.g2)}  # eta rs",
        ]
        lines += [f"{fmt(eta)} {fmt(rs)}" for eta, rs in self.descriptors.g2]
        lines.append(f"g4 {len(self.descriptors.g4)}  # eta zeta lambda")
        lines += [f"{fmt(eta)} {fmt(zeta)} {fmt(lam)}" for eta, zeta, lam in self.descriptors.g4]
        for net in self.networks:
            lines.append(f"network {net.symbol} {fmt(net.energy_ref)} {len(net.weights)}")
            lines.append("scaling  # shift scale")
            lines += [f"{fmt(a)} {fmt(b)}" for a, b in zip(net.shift, net.scale)]
            for w, b in zip(net.weights, net.biases):
                lines.append(f"layer {w.shape[0]} {w.shape[1]}")
                lines += [" ".join(map(fmt, row)) for row in w]
                lines.append(" ".join(map(fmt, b)))
        lines.append("end")
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike) -> None:
        """Write the HDF5 model (to a temporary name, then renamed: no half files)."""
        import h5py

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with h5py.File(tmp, "w") as h5:
            h5.attrs.update(
                format=FORMAT,
                format_version=FORMAT_VERSION,
                activation=self.activation,
                elements=json.dumps(self.elements),
                energy_units="eV",
                length_units="Angstrom",
            )
            d = h5.create_group("descriptors")
            d.attrs["cutoff"] = self.descriptors.cutoff
            d.create_dataset("g2", data=self.descriptors.g2).attrs["columns"] = "eta [1/Angstrom^2], rs [Angstrom]"
            d.create_dataset("g4", data=self.descriptors.g4).attrs["columns"] = "eta [1/Angstrom^2], zeta, lambda"
            for net in self.networks:
                g = h5.create_group(f"networks/{net.symbol}")
                g.attrs["energy_ref"] = net.energy_ref
                g["shift"], g["scale"] = net.shift, net.scale
                for layer, (w, b) in enumerate(zip(net.weights, net.biases)):
                    g[f"layer_{layer}/weight"], g[f"layer_{layer}/bias"] = w, b
            p = h5.create_group("provenance")
            for key, value in self.provenance.items():
                p.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)
        os.replace(tmp, path)


def load_model(path: str | os.PathLike) -> NNPModel:
    """Read an HDF5 model; a missing file, another format or version, or a damaged file is an InputError."""

    path = Path(path)
    with open_existing(path, "NNP model file") as h5:
        fmt, version = h5.attrs.get("format"), h5.attrs.get("format_version")
        if fmt != FORMAT:
            raise InputError(f"{path}: format attribute is {fmt!r}, expected {FORMAT!r}")
        if version != FORMAT_VERSION:
            raise InputError(f"{path}: model format version {version}, this code reads version {FORMAT_VERSION}")
        try:
            d = h5["descriptors"]
            dset = DescriptorSet(float(d.attrs["cutoff"]), d["g2"][()].reshape(-1, 2), d["g4"][()].reshape(-1, 3))
            networks = []
            for symbol in json.loads(h5.attrs["elements"]):
                g = h5[f"networks/{symbol}"]
                nlayers = sum(1 for k in g if k.startswith("layer_"))
                networks.append(
                    ElementNetwork(
                        symbol,
                        float(g.attrs["energy_ref"]),
                        g["shift"][()],
                        g["scale"][()],
                        [g[f"layer_{k}/weight"][()] for k in range(nlayers)],
                        [g[f"layer_{k}/bias"][()] for k in range(nlayers)],
                    )
                )
            provenance = dict(h5["provenance"].attrs) if "provenance" in h5 else {}
        except KeyError as exc:
            raise InputError(f"{path}: damaged NNP model file, missing {exc}") from None
        return NNPModel(
            dset,
            networks,
            str(h5.attrs.get("activation", "tanh")),
            {k: (v.item() if hasattr(v, "item") else v) for k, v in provenance.items()},
        )


def default_model_path() -> Path:
    """The Li model shipped with the package (trained by `bda-hpc mlff train --config examples/mlff_li.toml`)."""
    return Path(__file__).parent / "data" / "li_nnp.h5"
