"""Atomic creation of output folders: a failure never leaves a half-written project behind."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import interrupts
from .errors import QgenError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_target(target: str | Path, force: bool = False) -> Path:
    """Refuse a target that is a file, or a non-empty folder without `force` (before any work)."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise QgenError(f"'{target}' exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise QgenError(f"'{target}' already exists and is not empty; use --force to overwrite it")
    return target


@contextmanager
def atomic_directory(target: str | Path, force: bool = False):
    """Yield a temporary sibling folder; on success it replaces `target`, on failure it is removed.

    Without `force` an existing non-empty `target` is refused before any work is done. The new
    folder gets the permissions the umask gives (mkdtemp alone would leave it private, 0700).
    """
    target = check_target(target, force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise QgenError(f"cannot create '{target}': {exc.strerror or exc}") from None
    try:
        tmp.chmod(0o777 & ~_umask())
        yield tmp
        interrupts.check()    # the last moment to stop: nothing has replaced the target yet
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Replace `target` by `tmp`; if that fails, the old target is put back and the error is clear."""
    old = None
    try:
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        tmp.rename(target)
    except OSError as exc:
        if old is not None and old.exists() and not target.exists():
            old.rename(target)
        raise QgenError(f"cannot replace '{target}': {exc.strerror or exc}") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
