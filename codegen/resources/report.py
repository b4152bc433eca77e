"""The resource report: per-layer rows, totals against the part, fit verdict, throughput, roofline."""
from __future__ import annotations

RESOURCES = ("lut", "ff", "dsp", "bram_18k", "uram")


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
