"""lowdata's exception family: every refusal of bad input is a LowdataError.

    try: ...
    except LowdataError as e: print(e)        # one line naming the file/line or key and what was expected

The CLI catches LowdataError at its edge and exits with code 2 and one line (the traceback only with --debug);
any other exception is a bug in lowdata and exits with code 1 and its traceback.
"""
from __future__ import annotations


class LowdataError(Exception):
    """Bad input, or an action refused to protect data (the CLI: exit 2, one line)."""


class ConfigError(LowdataError, ValueError):
    """A config key, value or flag that is invalid; names the key and the valid range or choices."""


class RegistryError(LowdataError, ValueError):
    """An unknown registry name, or arguments a registered factory rejects."""


class RunError(LowdataError):
    """The output directory or file cannot be used as asked (finished, in use, changed config, unsafe file...)."""


class RunExistsError(RunError, FileExistsError):
    """A finished or unfinished run, or an existing output file, is in the way (pass --overwrite / --resume)."""


class ModelError(LowdataError):
    """A model name or directory that cannot be loaded (missing, offline, not a model)."""


class DivergedError(LowdataError):
    """Training produced a loss that is not a finite number (too high a learning rate, as a rule)."""


class LowdataWarning(UserWarning):
    """Something was done that the user may not expect (texts truncated, a format assumed)."""
