"""bda_hpc: battery design automation for clusters, from atoms to the cell."""
import os as _os

from ._version import __version__

# Numba's on-disk cache follows BDA_HPC_CACHE (a node-local or shared directory on clusters);
# this must be set before numba is first imported.
if "BDA_HPC_CACHE" in _os.environ:
    _os.environ.setdefault("NUMBA_CACHE_DIR", _os.path.join(_os.environ["BDA_HPC_CACHE"], "numba"))

__all__ = ["__version__"]
