"""bda_hpc: battery design automation for clusters, from atoms to the cell."""
from ._version import __version__

__all__ = ["__version__"]
