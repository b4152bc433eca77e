"""Estimated resources and cycles of a whole design: every kernel's cost model plus the FIFOs.

Weighted and pixel-wise ops estimate themselves (`op.estimate`); the kernels only hardware has
(AXI input, stream splits) and the FIFOs are costed here. Each layer's row includes the FIFO that
feeds it, so skip-connection buffers show up where they are consumed.
"""
from __future__ import annotations

from ..hls.design import Design
from .calibration import Calibration, calibrate_row
from .formulas import PART_SOURCES, YOSYS_REFERENCE, Breakdown, Cost, fifo


def stream_width(design: Design, stream: str) -> int:
    s = design.streams[stream]
    if not s.tensor:
        return design.in_tdata if stream == "in" else 32
    t = design.graph.tensors[s.tensor]
    return t.channels * t.dtype.bits


def kernel_row(design: Design, kernel, calibration: Calibration | None = None) -> dict:
    """One kernel's row: name, op, lut/ff/dsp/bram_18k/uram (rounded up), cycles per frame and the
    `breakdown` of the row into formulas.PARTS (the row is the sum of its parts). The row includes
    the FIFOs that feed the kernel. `calibration` scales the op's figures by the user's correction
    factors (qgen report-resources --save-calibration)."""
    graph = design.graph
    op = kernel.op
    if op is not None:
        fold = design.folding.of(op.name)
        cost = Breakdown.of(op.estimate(graph, fold))
        if kernel.epilogue is not None:     # a max-pool or the head run on the output inside this kernel
            cost = cost + kernel.epilogue.epilogue_estimate(graph, *kernel.epilogue_at(design))
        cycles = op.cycles(graph, fold)
        kind = op.op_type
    else:   # AXI input or stream split: one pixel per cycle, registers only
        width = stream_width(design, kernel.outputs[0])
        cost = Breakdown(control=Cost(lut=50, ff=width * (1 + len(kernel.outputs)) + 32))   # heuristic
        h, w = kernel.context["H"], kernel.context["W"]
        cycles = h * w
        kind = "split" if kernel.function.startswith("split_") else "input"
    for stream in kernel.inputs:
        if design.streams[stream].tensor:
            cost = cost.add("fifo", fifo(stream_width(design, stream), design.streams[stream].depth))
    row = {"name": kernel.function, "op": kind, **cost.rounded(), "cycles": int(cycles),
           "breakdown": cost.as_dict()}
    return calibrate_row(row, calibration)


def kernel_rows(design: Design, calibration: Calibration | None = None) -> list[dict]:
    """Every kernel's row (see kernel_row), in the design's order."""
    return [kernel_row(design, kernel, calibration) for kernel in design.kernels]


def totals(rows: list[dict]) -> dict[str, int]:
    return {key: sum(r[key] for r in rows) for key in ("lut", "ff", "dsp", "bram_18k", "uram")}


def estimate_report(design: Design, part, clock_ns: float, timing: dict | None = None,
                    calibration: Calibration | None = None) -> dict:
    """The full estimate report of a design on a part (see report.summarize). `timing` is the
    timing model's result (codegen.timing.sizing.Sizing.to_json()): its steady-state interval then
    replaces the slowest kernel's cycle count, which ignores stalls between kernels."""
    from .report import summarize

    graph = design.graph
    rows = kernel_rows(design, calibration)
    macs = sum(op.macs(graph.tensors[op.output]) for op in graph.weighted_ops)
    slowest = max(r["cycles"] for r in rows)
    extra = {"slowest_kernel_cycles": slowest, "interval_source": "slowest kernel"}
    if timing is not None:
        extra.update(interval_source="timing model (qgen simulate)", timing=timing)
    extra["resource_model"] = "calibrated against " + YOSYS_REFERENCE   # see formulas.py
    extra["part_sources"] = PART_SOURCES
    if calibration is not None:
        extra["calibration"] = calibration.to_json()
    return summarize(source="estimate", part=part.full, clock_ns=clock_ns, layers=rows, total=totals(rows),
                     available=part.resources(), macs_per_frame=macs,
                     interval_cycles=timing["interval_cycles"] if timing else slowest, dsp_count=part.dsp,
                     extra=extra)
