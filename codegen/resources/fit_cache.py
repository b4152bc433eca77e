"""The folding `qgen hls` chooses, reused between runs on the same graph, part and options.

The fitter prices a few thousand options per layer (0.6 s on the example) and gives the same
answer for the same graph, part, clock, budget, calibration and qgen code; the answer is kept in
qgen's cache (codegen/cache.py) under a key of exactly those, and validated against the graph
when read back.
"""
from __future__ import annotations

import json

from .. import cache
from ..errors import QgenError
from ..hls.folding import Folding
from ..ir.store import StoreError, graph_to_data
from .fit import choose_folding

KIND = "fold"


def graph_digest(graph) -> str | None:
    """A content key of the whole graph (every op's fields and arrays); None if it cannot be stored."""
    try:
        doc, arrays = graph_to_data(graph)
    except StoreError:
        return None
    parts: list[bytes | str] = [json.dumps(doc, sort_keys=True)]
    for name in sorted(arrays):
        parts += [name, str(arrays[name].dtype), str(arrays[name].shape), arrays[name].tobytes()]
    return cache.content_key(*parts)


def choose_folding_cached(graph, part, clock_ns: float, *, fit: bool, target_fps: float | None, headroom: float,
                          calibration=None) -> tuple[Folding, str | None]:
    """`choose_folding` without a folding file, answered from the cache when it has run before."""
    digest = graph_digest(graph)
    if digest is None:
        return choose_folding(graph, part, clock_ns, fit=fit, target_fps=target_fps, headroom=headroom,
                              calibration=calibration)
    options = {"part": part.full, "resources": part.resources(), "clock_ns": clock_ns, "fit": fit,
               "target_fps": target_fps, "headroom": headroom,
               "calibration": None if calibration is None else calibration.to_json()}
    key = cache.content_key(KIND, cache.code_version(), digest, json.dumps(options, sort_keys=True))
    store = cache.shared()
    stored = store.get_json(KIND, key)
    if stored is not None:
        try:
            folding = Folding.from_json(stored["folding"], "cached folding")
            folding.validate(graph)
            warning = stored["warning"]
            if warning is None or isinstance(warning, str):
                return folding, warning
        except (QgenError, KeyError, TypeError):
            pass
        store.discard(KIND, key)
    folding, warning = choose_folding(graph, part, clock_ns, fit=fit, target_fps=target_fps, headroom=headroom,
                                      calibration=calibration)
    store.put_json(KIND, key, {"folding": folding.to_json(), "warning": warning})
    return folding, warning
