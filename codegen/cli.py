"""`qgen` command line: train and evaluate QuantU-Net, and turn a checkpoint into an HLS project.

Every command reports bad input as one line on stderr with a non-zero exit; tracebacks are shown
only with QGEN_DEBUG=1.
"""
from __future__ import annotations

import json
import os
import sys
import warnings

import click

from .errors import QgenError

# Errors whose message is meant for the user as it stands.
USER_ERRORS: tuple[type[BaseException], ...] = (QgenError,)


def _user_errors() -> tuple[type[BaseException], ...]:
    from quantunet.checkpoint import CheckpointError
    from quantunet.data import DataError
    return USER_ERRORS + (CheckpointError, DataError)


class QgenGroup(click.Group):
    """Turns exceptions into one-line errors."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place that turns errors into messages
            if os.environ.get("QGEN_DEBUG"):
                raise
            if isinstance(exc, _user_errors()):
                click.echo(f"Error: {exc}", err=True)
                sys.exit(2)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"Error: internal error {type(exc).__name__}: {message} "
                       "(set QGEN_DEBUG=1 for the traceback and please report it)", err=True)
            sys.exit(1)


def console():
    """A rich console; as wide as the terminal, or 160 columns when output is piped."""
    from rich.console import Console
    return Console(width=None if sys.stdout.isatty() else 160)


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=_json_default))


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# Brevitas announces optional kernels it cannot find on import; not the user's concern.
warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")


@click.group(cls=QgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qgen")
def main():
    """QuantU-Net with learned per-layer bitwidths -> Vitis HLS accelerator code."""


def _register_commands():
    # Each command family lives in its own module; importing registers it on `main`.
    from .commands import hls_cmds, ir_cmds, model_cmds, resource_cmds  # noqa: F401


_register_commands()


if __name__ == "__main__":
    # `python -m codegen.cli`: run the imported module's group, on which the commands registered
    from codegen.cli import main as qgen_main
    qgen_main()
