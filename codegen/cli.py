"""`qgen` command line: train and evaluate QuantU-Net, and turn a checkpoint into an HLS project.

Every command reports bad input as one line on stderr with a non-zero exit; tracebacks are shown
only with QGEN_DEBUG=1.
"""
from __future__ import annotations

import os
import sys
import warnings

import click

from quantunet.errors import QuantUNetError

from . import interrupts
from .errors import QgenError
from .safe_io import describe_os_error
from .terminal import one_line

# Errors whose message is meant for the user as it stands. Both bases are defined without torch:
# the handler must not import anything heavy (seconds, and it may fail when memory ran out).
USER_ERRORS: tuple[type[BaseException], ...] = (QgenError, QuantUNetError)


def _sanitize_click_error(exc: click.ClickException) -> None:
    """click repeats option values and names as typed: no escape sequences on the way out."""
    exc.message = one_line(exc.message)


class QgenGroup(click.Group):
    """Turns exceptions into one-line errors."""

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.ClickException as exc:
            _sanitize_click_error(exc)
            raise

    def invoke(self, ctx):
        try:
            result = super().invoke(ctx)
            interrupts.check()      # a Ctrl-C swallowed by library code still ends the run as one
            return result
        except click.exceptions.Exit:
            raise
        except click.ClickException as exc:
            _sanitize_click_error(exc)
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
            if isinstance(exc, USER_ERRORS):
                click.echo(f"Error: {one_line(exc)}", err=True)   # one line, always
                sys.exit(2)
            if isinstance(exc, OSError):
                click.echo(f"Error: {one_line(describe_os_error(exc))}", err=True)
                sys.exit(2)
            if isinstance(exc, MemoryError):
                click.echo("Error: out of memory (the input asks for more than this machine has)", err=True)
                sys.exit(2)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"Error: internal error {type(exc).__name__}: {one_line(message)} "
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
