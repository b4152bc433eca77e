"""User-facing errors: each carries a one-line message that the CLI prints without a traceback."""


class QgenError(Exception):
    """A problem with the user's input or environment (bad checkpoint, unknown part, missing g++...)."""
