"""`qgen cache info` and `qgen cache clear`: what qgen keeps between runs, and how to drop it."""
from __future__ import annotations

import click

from ..console import echo_json


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


@click.group()
def cache():
    """The cache of lowered checkpoints, FIFO depths, lint verdicts and compiled kernels.

    Folder: QGEN_CACHE (default ~/.cache/qgen); size cap: QGEN_CACHE_MAX_BYTES (default 1 GiB),
    least recently used entries go first. Every entry is keyed by the exact bytes of its inputs
    and qgen's code, so clearing it is never needed for correctness, only to free space.
    """


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def cache_info(as_json):
    """Where the cache is, its cap, and its size per kind of entry."""
    from ..cache import Cache

    info = Cache().info()
    if as_json:
        echo_json(info)
        return
    click.echo(f"{info['folder']}: {_size(info['bytes'])} in {info['entries']} entries "
               f"(cap {_size(info['cap_bytes'])}, QGEN_CACHE_MAX_BYTES)")
    for kind, row in info["kinds"].items():
        if row["entries"]:
            click.echo(f"  {kind:8} {row['entries']:6} entries  {_size(row['bytes']):>10}")


@cache.command("clear")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def cache_clear(as_json):
    """Remove every entry (the next runs rebuild what they need)."""
    from ..cache import Cache

    removed = Cache().clear()
    if as_json:
        echo_json({"folder": removed["folder"], "removed_entries": removed["entries"], "removed_bytes": removed["bytes"]})
        return
    click.echo(f"removed {removed['entries']} entries ({_size(removed['bytes'])}) from {removed['folder']}")


COMMANDS = [cache]
