"""Atomic creation of output folders: a failure never leaves a half-written project behind."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from . import interrupts
from .errors import QgenError
from .safe_io import current_umask, describe_os_error


def check_target(target: str | Path, force: bool = False) -> Path:
    """The output folder, made absolute, once it is known to be one qgen may create or replace:
    refused before any work are a file, a non-empty folder without `force`, a symbolic link (the
    swap would replace the link, not fill what it points to), and the current folder or one of its
    parents (`--out .`, `--out /`: replacing them would pull the folder from under the user)."""
    given = Path(target)
    if given.is_symlink():
        raise QgenError(f"'{given}' is a symbolic link; name the folder itself "
                        f"({_resolved(given)}) or a new one")
    absolute = _resolved(given)
    if Path.cwd().resolve().is_relative_to(absolute):
        raise QgenError(f"'{given}' is the current folder or one of its parents; name a folder to create or replace")
    if absolute.exists() and not absolute.is_dir():
        raise QgenError(f"'{given}' exists and is not a folder")
    if absolute.exists() and any(absolute.iterdir()) and not force:
        raise QgenError(f"'{given}' already exists and is not empty; use --force to overwrite it")
    return absolute


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:     # a symlink loop on the way
        raise QgenError(f"cannot resolve '{path}': {exc}") from None


@contextmanager
def atomic_directory(target: str | Path, force: bool = False):
    """Yield a temporary sibling folder; on success it replaces `target`, on failure it is removed.

    Without `force` an existing non-empty `target` is refused before any work is done. The new
    folder gets the permissions the umask gives (mkdtemp alone would leave it private, 0700).
    A file-system error while the folder is filled (a full disk) names the target, not the
    temporary folder that is gone by the time the user reads the message.
    """
    shown = target
    target = check_target(target, force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise QgenError(f"cannot create '{shown}': {exc.strerror or exc}") from None
    try:
        tmp.chmod(0o777 & ~current_umask())
        try:
            yield tmp
        except OSError as exc:
            raise QgenError(describe_os_error(exc, shown).replace(str(tmp), str(shown))) from None
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
            _remove(old)
            target.rename(old)
        tmp.rename(target)
    except OSError as exc:
        if old is not None and old.exists() and not target.exists():
            old.rename(target)
        raise QgenError(f"cannot replace '{target}': {exc.strerror or exc}") from None
    if old is not None:
        _remove(old)


def _remove(path: Path) -> None:
    """Whatever is at `path` (a leftover folder, file or link), without following links."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
