"""`qgen` command line: train and evaluate QuantU-Net, and turn a checkpoint into an HLS project.

Every command reports bad input as one line on stderr with a non-zero exit; tracebacks are shown
only with QGEN_DEBUG=1.
"""
from __future__ import annotations

import os
import sys
import warnings

import click

from . import interrupts
from .errors import QgenError

# Errors whose message is meant for the user as it stands.
USER_ERRORS: tuple[type[BaseException], ...] = (QgenError,)


def _user_errors() -> tuple[type[BaseException], ...]:
    from quantunet.checkpoint import CheckpointError
    from quantunet.data import DataError
    from quantunet.train import TrainingError
    return USER_ERRORS + (CheckpointError, DataError, TrainingError)


def _os_error_message(exc: OSError) -> str:
    """A file-system problem (read-only folder, disk full, missing folder) as one line."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or type(exc).__name__}{where}"


class QgenGroup(click.Group):
    """Turns exceptions into one-line errors."""

    def invoke(self, ctx):
        try:
            result = super().invoke(ctx)
            interrupts.check()      # a Ctrl-C swallowed by library code still ends the run as one
            return result
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (KeyboardInterrupt, click.Abort):
            click.echo("Error: interrupted", err=True)
            # not sys.exit: a KeyboardInterrupt that passed through code run by C (PyRun_*, as during
            # torch's import) marks the interpreter, which then kills itself with SIGINT at exit (-2)
            # whatever code sys.exit gave. Open files and folders are already closed or removed here.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place that turns errors into messages
            if os.environ.get("QGEN_DEBUG"):
                raise
            if isinstance(exc, _user_errors()):
                click.echo(f"Error: {' '.join(str(exc).split())}", err=True)   # one line, always
                sys.exit(2)
            if isinstance(exc, OSError):
                click.echo(f"Error: {_os_error_message(exc)}", err=True)
                sys.exit(2)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"Error: internal error {type(exc).__name__}: {message} "
                       "(set QGEN_DEBUG=1 for the traceback and please report it)", err=True)
            sys.exit(1)


# Brevitas announces optional kernels it cannot find on import; not the user's concern.
warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")


@click.group(cls=QgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qgen")
def main():
    """QuantU-Net with learned per-layer bitwidths -> Vitis HLS accelerator code."""
    interrupts.install()


def _register_commands():
    # Each command family lives in its own module and lists its commands in COMMANDS; the modules
    # never import this one (shared output helpers are in codegen.console), so there is no loop.
    from .commands import cache_cmds, hls_cmds, ir_cmds, model_cmds, resource_cmds, sim_cmds
    for module in (model_cmds, ir_cmds, hls_cmds, resource_cmds, sim_cmds, cache_cmds):
        for command in module.COMMANDS:
            main.add_command(command)


_register_commands()


if __name__ == "__main__":
    # `python -m codegen.cli`: run the imported module's group, on which the commands registered
    from codegen.cli import main as qgen_main
    qgen_main()
