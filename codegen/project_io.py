"""Atomic creation of output folders: a failure never leaves a half-written project behind."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import QgenError


@contextmanager
def atomic_directory(target: str | Path, force: bool = False):
    """Yield a temporary sibling folder; on success it replaces `target`, on failure it is removed.

    Without `force` an existing non-empty `target` is refused before any work is done.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise QgenError(f"'{target}' exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise QgenError(f"'{target}' already exists; use --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
