"""Which parts run a model, and at what cost: the folding fitter's answer on each part of a list.

`qgen report-resources --model M --parts all [--target-fps F]`. Each row is what `qgen hls --part P`
would build: with F, the least-resource folding reaching F frames/s (`qgen hls --target-fps F`),
without it the fastest folding within the budget (the default of `qgen hls`), both checked with
the FIFO depths the timing model gives (fit.with_sized_fifos).
The frame rate is that checked design's steady interval in the timing model.
"""
from __future__ import annotations

from .fit import BUDGETED, Fitter, cheapest_at_fps, fastest_within_budget, with_sized_fifos

FPS_SOURCE = ("the timing model's steady interval of the design whose resources are shown (with a frame rate "
              "F, the project may spend spare rate on 1-deep FIFOs, down to F)")
RESOURCE_SOURCE = ("the estimate with the FIFO depths of the timing model: peak depths, or the right-sized ones the "
                   "project will have where the peaks are over budget")


def part_table(graph, parts, clock_ns: float, target_fps: float | None, headroom: float,
               calibration=None) -> dict:
    """One row per part (in the order given), and the first part whose row fits: `parts` come
    smallest first (parts.resolve_parts), so that is the smallest part that runs the model.

    The options of every layer are estimated once and budgeted per part (Fitter.for_part).
    QgenError when no folding reaches `target_fps` on any part (a layer is too slow even at full
    parallelism), before any row is made.
    """
    base = Fitter(graph, parts[0].resources(), headroom, calibration)
    rows = []
    for part in parts:
        fitter = base.for_part(part.resources(), headroom)
        pick = (lambda f: cheapest_at_fps(f, target_fps, clock_ns)) if target_fps is not None else fastest_within_budget
        _, used, fits, interval = with_sized_fifos(fitter, pick, graph, clock_ns, calibration, target_fps)
        available = {r: part.resources()[r] for r in BUDGETED}
        rows.append({
            "part": part.short, "full": part.full, "board": part.board, "dsp_kind": part.dsp_kind,
            "fits": fits,
            "used": used,
            "available": available,
            "utilization_percent": {r: round(100.0 * used[r] / available[r], 1) if available[r] else None
                                    for r in BUDGETED},
            "over_budget": [r for r in BUDGETED if used[r] > fitter.budget[r]],
            "interval_cycles": interval,
            "fps": 1e9 / (interval * clock_ns),
        })
    smallest = next((row["part"] for row in rows if row["fits"]), None)
    return {"clock_ns": clock_ns, "target_fps": target_fps, "max_utilization": headroom,
            "fps_source": FPS_SOURCE, "resource_source": RESOURCE_SOURCE,
            "parts": rows, "smallest_fitting": smallest}
