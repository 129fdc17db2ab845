"""Unit parsing and conversion through pint (one registry for the package)."""
from __future__ import annotations

import functools

import numpy as np

from ..errors import ParameterFileError


@functools.lru_cache(maxsize=1)
def registry():
    import pint

    return pint.UnitRegistry()


def check_units(units: str, where: str) -> str:
    """Raise if ``units`` is not a unit expression pint understands ('1' or '' is dimensionless)."""
    try:
        registry().Unit(units or "dimensionless")
    except Exception as exc:  # pint raises several unrelated types
        raise ParameterFileError(f"{where}: cannot parse units {units!r} ({exc})") from None
    return units


def convert(value, from_units: str, to_units: str, where: str):
    """``value`` in ``from_units`` expressed in ``to_units``; a dimension mismatch names ``where``."""
    ureg = registry()
    src = ureg.Unit(from_units or "dimensionless")
    dst = ureg.Unit(to_units or "dimensionless")
    if src.dimensionality != dst.dimensionality:
        raise ParameterFileError(
            f"{where} has units {from_units!r}, which cannot be converted to {to_units!r} "
            f"({src.dimensionality} vs {dst.dimensionality})"
        )
    if src == dst:
        return value
    converted = ureg.Quantity(np.asarray(value, dtype=float), src).to(dst).magnitude
    return converted.item() if np.ndim(converted) == 0 else converted
