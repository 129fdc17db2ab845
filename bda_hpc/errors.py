"""Exception types that the CLI turns into one clear message and a non-zero exit."""


class BdaError(Exception):
    """An error the user can fix (bad input, bad config, missing file).

    ``collective=True`` means every rank raises it at the same point (for
    example a config check that all ranks run), so the CLI prints it once from
    rank 0 and all ranks exit; otherwise the failing rank reports it with its
    rank number and the job is aborted so that no rank waits forever.
    """

    def __init__(self, message: str, *, collective: bool = False):
        super().__init__(message)
        self.collective = collective


class ConfigError(BdaError):
    """A TOML configuration that is malformed, has unknown keys or wrong types."""

    def __init__(self, message: str, *, collective: bool = True):
        super().__init__(message, collective=collective)


class ParameterFileError(BdaError):
    """An HDF5 parameter file that is missing, damaged, too new, or lacks a parameter."""


class InputError(BdaError):
    """Any other bad input: data files, meshes, images, restart files."""


class SolverError(BdaError):
    """A solve that diverged or produced non-finite values."""
