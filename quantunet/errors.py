"""The model side's user-facing errors, importable without torch.

The CLI's error handler recognises these to print a one-line `Error:`; were they defined next to
the code that raises them (checkpoint.py, data.py, train.py import torch), every error path would
pay for importing torch and Brevitas (seconds) just to name an exception class.
"""


class QuantUNetError(ValueError):
    """A problem with the user's input on the model side. One-line message."""


class CheckpointError(QuantUNetError):
    """The file is missing, unreadable, unsafe or not a qgen checkpoint."""


class DataError(QuantUNetError):
    """A data set that cannot be read as described."""


class TrainingError(QuantUNetError):
    """Training cannot start or go on (bad device, diverged loss)."""
