"""The synthesizable-subset lint's verdict, reused for kernels that did not change.

Parsing every kernel with clang takes 2-4 s on the example; the verdict depends only on the
firmware files' bytes, the lint's code, libclang and the ap_types headers. It is kept in qgen's
cache under a key of exactly those, so rerunning `qgen hls` (or writing the same kernels into
another folder) does not parse them again.
"""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

from .. import cache
from .lint import lint_project

KIND = "lint"


def _libclang_version() -> str:
    try:
        return metadata.version("libclang")
    except metadata.PackageNotFoundError:
        return "unknown"


def lint_key(root: Path) -> str:
    from ..csim import ap_types_digest

    parts: list[bytes | str] = [KIND, cache.code_version(), _libclang_version(), ap_types_digest()]
    firmware = Path(root) / "firmware"
    for path in sorted(firmware.rglob("*")):
        if path.is_file():
            parts += [path.relative_to(firmware).as_posix(), path.read_bytes()]
    return cache.content_key(*parts)


def lint_project_cached(root: Path) -> list[str]:
    """`lint_project(root)`, from the cache when these very kernels were linted before."""
    store = cache.shared()
    key = lint_key(root)
    stored = store.get_json(KIND, key)
    if isinstance(stored, list) and all(isinstance(p, str) for p in stored):
        return stored
    if stored is not None:
        store.discard(KIND, key)
    problems = lint_project(root)
    store.put_json(KIND, key, problems)
    return problems
