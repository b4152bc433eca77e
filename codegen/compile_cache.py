"""Compiled objects and precompiled headers in qgen's cache, keyed by what the compiler reads.

An object depends on its source's bytes and path, the bytes of every project header it includes
(followed through `#include`), the flags, the compiler (path and `--version`) and the ap_types
headers; its key is a digest of exactly those (codegen/cache.py), never of time stamps. So a
project written again by `qgen hls --force`, or the same kernel in another project, reuses the
object, and a changed byte anywhere it reads compiles it again. Sources are compiled from the
project root with relative paths, so an object does not depend on where the project lives.
These functions take flags in and give objects out; C-simulation (codegen/csim.py) and the
compile check of `qgen hls` both use them.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from . import cache
from .errors import QgenError

OBJECTS, PCH = "objects", "pch"
_INCLUDE = re.compile(r'^\s*#\s*include\s*(?:"([^"]+)"|<([^>]+)>|(.*))', re.MULTILINE)


class CompileError(QgenError):
    """The compiler rejected a source; `stderr` holds its diagnostics."""

    def __init__(self, source: str, stderr: str, returncode: int):
        first = next((line for line in stderr.splitlines() if "error" in line), stderr.strip()[:300])
        super().__init__(f"{source}: {first or f'exit status {returncode}, no message'}")
        self.source, self.stderr, self.returncode = source, stderr, returncode


@lru_cache(maxsize=8)
def compiler_identity(cxx: str) -> str:
    """The compiler's path and `--version` text: part of every key of what it compiled."""
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    except OSError as exc:
        raise QgenError(f"cannot run the compiler '{cxx}': {exc.strerror or exc}") from None
    return f"{shutil.which(cxx) or cxx}\n{version}"


@lru_cache(maxsize=8)
def folder_digest(folder: Path) -> str:
    """The names and bytes of every file under `folder` (the ap_types headers)."""
    parts: list[bytes | str] = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            parts += [path.relative_to(folder).as_posix(), path.read_bytes()]
    return cache.content_key(*parts)


def project_includes(root: Path, source: str, include_dirs: list[str]) -> list[str] | None:
    """Every project file `source` includes, directly or not (project paths, sorted). Includes are
    looked up beside the including file, then in the project's include folders; one found in
    neither is a compiler or ap_types header. None when an include is computed by a macro (then
    every project header counts)."""
    root = Path(root).resolve()
    found: set[str] = set()
    pending = [source]
    while pending:
        current = pending.pop()
        try:
            text = (root / current).read_text(errors="replace")
        except OSError:
            continue
        for quoted, angled, other in _INCLUDE.findall(text):
            if other.strip() and not other.strip().startswith("//"):
                return None
            name = quoted or angled
            candidates = ([(root / current).parent / name] if quoted else []) + [root / d / name for d in include_dirs]
            for candidate in candidates:
                path = candidate.resolve()
                if path.is_file() and root in path.parents:
                    relative = path.relative_to(root).as_posix()
                    if relative not in found:
                        found.add(relative)
                        pending.append(relative)
                    break
    return sorted(found)


def object_key(cxx: str, flags: list[str], root: Path, source: str, include_dirs: list[str],
               ap_types: Path) -> str:
    includes = project_includes(root, source, include_dirs)
    if includes is None:
        includes = sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*")
                          if p.is_file() and p.suffix in (".h", ".hpp", ".inc"))
    parts: list[bytes | str] = [OBJECTS, compiler_identity(cxx), folder_digest(ap_types), *flags, "\0", source,
                                (Path(root) / source).read_bytes()]
    for path in includes:
        parts += [path, (Path(root) / path).read_bytes()]
    return cache.content_key(*parts)


def compile_object(cxx: str, flags: list[str], root: Path, source: str, include_dirs: list[str], ap_types: Path,
                   spill_dir: Path) -> Path:
    """The object of project file `source` (compiled from `root` with `flags`), from the cache or
    compiled into it; into `spill_dir` when the cache cannot be written. CompileError on failure."""
    store = cache.shared()
    key = object_key(cxx, flags, root, source, include_dirs, ap_types)
    entry = store.get(OBJECTS, key)
    if entry is not None and (entry / "object.o").is_file():
        return entry / "object.o"

    def run(output: Path) -> None:
        try:
            result = subprocess.run([cxx, *flags, "-c", source, "-o", str(output)], cwd=root,
                                    capture_output=True, text=True)
        except OSError as exc:
            raise QgenError(f"cannot run the compiler '{cxx}': {exc.strerror or exc}") from None
        if result.returncode != 0:
            raise CompileError(source, result.stderr, result.returncode)

    entry = store.put(OBJECTS, key, lambda folder: run(folder / "object.o"))
    if entry is not None:
        return entry / "object.o"
    spill_dir.mkdir(parents=True, exist_ok=True)
    output = spill_dir / (source.replace("/", "__") + ".o")
    run(output)
    return output


def precompiled_header(cxx: str, flags: list[str], header: Path, fallback: str) -> list[str]:
    """Flags that make every translation unit start from `header` precompiled (parsing ap_int.h
    and hls_stream.h is most of a kernel's compile time); [] when it cannot be built, and every
    file then parses the headers itself. Shared by every project with the same header and flags.

    `fallback`: the folder holding the project's own copy of the header, searched after the cache
    entry: another qgen process may evict the entry between this call and the compiler's start
    (its cap counts only its own entries as in use), and the compiler then parses the same header
    from the project instead of failing on a missing file."""
    text = header.read_bytes()
    key = cache.content_key(PCH, compiler_identity(cxx), *flags, "\0", header.name, text)
    store = cache.shared()
    entry = store.get(PCH, key)
    if entry is None or not (entry / (header.name + ".gch")).is_file():
        def build(folder: Path) -> None:
            (folder / header.name).write_bytes(text)
            result = subprocess.run([cxx, *flags, "-x", "c++-header", header.name, "-o", header.name + ".gch"],
                                    cwd=folder, capture_output=True, text=True)
            if result.returncode != 0:
                raise CompileError(header.name, result.stderr, result.returncode)
        try:
            entry = store.put(PCH, key, build)
        except (CompileError, OSError):
            return []
        if entry is None:
            return []
    return [f"-I{entry}", f"-I{fallback}", "-include", header.name]
