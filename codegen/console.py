"""Terminal output shared by the commands: a rich console and JSON printing (no command imports here)."""
from __future__ import annotations

import json
import sys

import click


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
