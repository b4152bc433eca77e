"""`qgen hls` compiles what an edited template wrote, so a C++ mistake stops it at the template line.

Only sources that an edited template wrote, directly or through a header they include, are
compiled: the shipped templates are C-simulated by the tests, and compiling every kernel would
double the time of `qgen hls`. They are compiled in parallel with C-simulation's own flags into
qgen's object cache (codegen/compile_cache.py), so `qgen csim` afterwards only links them; a
syntax-only pass would parse every kernel twice (0.2 s of the 0.4 s a conv kernel takes at -O1)
for the same errors. Sources already in the cache were compiled before and are not compiled again.
"""
from __future__ import annotations

from pathlib import Path

from .linemap import LineMaps


def edited_sources(root: Path, build: dict, maps: LineMaps, edited) -> list[str]:
    """The project's sources that a template `edited(path)` says was edited wrote, or that include
    a header one wrote."""
    from ..compile_cache import project_includes

    changed = {t for t in maps.templates if edited(t)}
    if not changed:
        return []
    sources = list(build["sources"]) + [build["testbench"]]
    chosen = []
    for source in sources:
        includes = project_includes(root, source, build["include_dirs"])
        files = [source] + (includes if includes is not None else list(maps.files))
        if any(maps.templates_of(f) & changed for f in files):
            chosen.append(source)
    return chosen


def compile_edited(root: Path, build: dict, maps: LineMaps, edited) -> int:
    """Compile the sources edited templates wrote (QgenError at the template line of the first
    error); returns how many were checked."""
    sources = edited_sources(root, build, maps, edited)
    if sources:
        from ..csim import compile_setup, compile_sources

        cxx, flags = compile_setup(Path(root), build)
        compile_sources(Path(root), sources, cxx, flags, build["include_dirs"])
    return len(sources)
