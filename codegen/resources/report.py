"""The resource report: per-layer rows, totals against the part, fit verdict, throughput, roofline."""
from __future__ import annotations

import re
from pathlib import Path

from ..safe_io import is_number, read_json_input

RESOURCES = ("lut", "ff", "dsp", "bram_18k", "uram")
MAX_ESTIMATE_BYTES = 16 << 20


def summarize(*, source: str, part: str, clock_ns: float, layers: list[dict], total: dict,
              available: dict, macs_per_frame: int | None, interval_cycles: int | None,
              dsp_count: int | None = None, extra: dict | None = None) -> dict:
    """Assemble the report dict shared by estimates and csynth results.

    fps: one frame per dataflow interval (the slowest layer) at the target clock.
    DSP roofline: DSP slices x clock / MACs per frame, the frame rate if every DSP did one MAC per
    cycle; low-bit multipliers built from LUTs can take a design past 100 % of it.
    """
    utilization = {r: (100.0 * total[r] / available[r]) if available.get(r) else (0.0 if not total.get(r) else None)
                   for r in RESOURCES}
    fits = all(total.get(r, 0) <= available.get(r, 0) for r in RESOURCES if total.get(r, 0))
    fps = 1e9 / (interval_cycles * clock_ns) if interval_cycles else None
    dsps = dsp_count if dsp_count is not None else available.get("dsp")
    roofline = dsps * 1e9 / clock_ns / macs_per_frame if (dsps and macs_per_frame) else None
    bottleneck = max(layers, key=lambda r: r.get("cycles") or 0)["name"] if layers else None
    return {
        "source": source,
        "part": part,
        "clock_ns": clock_ns,
        "layers": layers,
        "total": {r: total.get(r, 0) for r in RESOURCES},
        "available": {r: available.get(r, 0) for r in RESOURCES},
        "utilization_percent": utilization,
        "fits": fits,
        "interval_cycles": interval_cycles,
        "bottleneck": bottleneck,
        "fps": fps,
        "macs_per_frame": macs_per_frame,
        "dsp_roofline_fps": roofline,
        "roofline_ratio": (fps / roofline) if (fps and roofline) else None,
        **(extra or {}),
    }


PLAIN_CHARS = "A-Za-z0-9_ .:+()/%,'=<>*-"        # every string of an estimate: no markup, no escapes
PLAIN_TEXT = re.compile(f"[{PLAIN_CHARS}]{{0,300}}")
_REQUIRED = {"source": str, "part": str, "clock_ns": (int, float), "layers": list, "total": dict,
             "available": dict, "utilization_percent": dict, "fits": bool}


def load_estimate(path: Path) -> dict:
    """A project's resources_estimate.json, checked before anything prints or plots it: the keys the
    report uses, every number finite and non-negative, every string plain text."""
    from ..errors import QgenError

    def bad(why: str):
        raise QgenError(f"{path}: {why}; regenerate the project with qgen hls")

    data = read_json_input(path, "resource estimate", MAX_ESTIMATE_BYTES)
    if not isinstance(data, dict):
        bad("not a qgen estimate")
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            bad(f"'{key}' is missing or of the wrong type")
    for i, row in enumerate(data["layers"]):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) \
                or not all(isinstance(row.get(r), (int, float)) for r in RESOURCES):
            bad(f"layer row {i} lacks a name or a resource count")
    try:
        where = _first_bad_value(data)
    except RecursionError:
        bad("nested too deeply")
    if where:
        bad(f"value at {where} is not a finite non-negative number or plain text")
    return data


def _first_bad_value(node, where: str = "") -> str | None:
    if isinstance(node, bool) or node is None:
        return None
    if isinstance(node, (int, float)):
        return None if is_number(node, 0) else where or "/"
    if isinstance(node, str):
        return None if PLAIN_TEXT.fullmatch(node) else where or "/"
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        return where or "/"
    for key, value in items:
        if isinstance(key, str) and not PLAIN_TEXT.fullmatch(key):
            return f"{where}/{key[:20]}"
        found = _first_bad_value(value, f"{where}/{key}")
        if found:
            return found
    return None
