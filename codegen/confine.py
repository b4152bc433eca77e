"""Paths that must stay inside a folder (a project, a template folder), symbolic links included.

A relative path without '..' can still lead anywhere through a symbolic link: a project's source
linked to a file elsewhere would be compiled and run by csim, a `csim_build` link would make csim
write objects elsewhere, a link in an edited template folder would copy any readable file into
generated code. Paths are resolved (every link followed) and must end inside the resolved folder.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import QgenError

MAX_WALK_ENTRIES = 200_000       # a project or template folder of more entries is not one


def resolved(path: str | Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as exc:      # a symlink loop
        raise QgenError(f"cannot resolve '{path}': {exc}") from None


def confined_path(root: str | Path, rel: str | Path, what: str) -> Path:
    """root/rel with every link followed; QgenError if that leads outside root."""
    base = resolved(root)
    path = resolved(base / rel)
    if not path.is_relative_to(base):
        raise QgenError(f"{what} '{rel}' leads outside {root} (to {path})")
    return path


def check_links_stay_inside(root: str | Path, what: str) -> None:
    """Every symbolic link anywhere under root must point inside root (links are not followed
    while walking, so a link to a folder elsewhere is caught, not walked)."""
    base = resolved(root)
    seen = 0
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            seen += 1
            if seen > MAX_WALK_ENTRIES:
                raise QgenError(f"{what} '{root}' holds more than {MAX_WALK_ENTRIES:,} files and folders")
            path = Path(folder, name)
            if path.is_symlink() and not resolved(path).is_relative_to(base):
                raise QgenError(f"{what} '{root}': '{path.relative_to(base)}' is a symbolic link leading "
                                f"outside it (to {resolved(path)}); qgen reads and writes only inside it")
