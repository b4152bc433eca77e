"""Checks of the generated firmware (the synthesizable-subset lint), reused for unchanged kernels.

Parsing every kernel with clang takes 2-4 s on the example, and the verdict depends only on the
firmware files' bytes, qgen's code (the checks), libclang and hls4ml's ap_types headers. It is
kept in qgen's cache under a key of exactly those, so rerunning `qgen hls`, or writing the same
kernels into another folder, does not parse them again.
"""
from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path
from typing import Callable

from .. import cache

KIND = "lint"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def firmware_key(root: Path, *extra: str) -> str:
    """A digest of every file under firmware/ (names and bytes), the checking code and tools."""
    parts: list[bytes | str] = [KIND, cache.code_version(), _version("libclang"), _version("hls4ml"), *extra]
    firmware = Path(root) / "firmware"
    for path in sorted(firmware.rglob("*")):
        if path.is_file():
            parts += [path.relative_to(firmware).as_posix(), path.read_bytes()]
    return cache.content_key(*parts)


def cached_firmware_check(root: Path, check: Callable[[], list[str]], *extra: str,
                          alongside: Callable[[], object] | None = None) -> list[str]:
    """`check()` (a list of problems, each 'file:line: what'), from the cache when these very
    firmware files were checked before; `extra` names anything else the check depends on.

    `alongside()` runs meanwhile in this thread (the compile check: compilers in other processes,
    the lint in libclang, which releases the GIL). If it raises, that error wins and the lint's
    verdict, whatever it was, is neither awaited nor stored."""
    store = cache.shared()
    key = firmware_key(root, *extra)
    stored = store.get_json(KIND, key)
    if isinstance(stored, list) and all(isinstance(p, str) for p in stored):
        if alongside is not None:
            alongside()
        return stored
    if stored is not None:
        store.discard(KIND, key)
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["problems"] = check()
        except BaseException as exc:     # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="qgen-lint", daemon=True)
    worker.start()
    if alongside is not None:
        alongside()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    store.put_json(KIND, key, outcome["problems"])
    return outcome["problems"]
