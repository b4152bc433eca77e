"""Estimated resources and cycles of a whole design: every kernel's cost model plus the FIFOs.

Weighted and pixel-wise ops estimate themselves (`op.estimate`); the kernels only hardware has
(AXI input, stream splits) and the FIFOs are costed here. Each layer's row includes the FIFO that
feeds it, so skip-connection buffers show up where they are consumed.
"""
from __future__ import annotations

from ..hls.design import Design
from ..hls.folding import LayerFold
from .formulas import Cost, fifo


def stream_width(design: Design, stream: str) -> int:
    s = design.streams[stream]
    if not s.tensor:
        return design.in_tdata if stream == "in" else 32
    t = design.graph.tensors[s.tensor]
    return t.channels * t.dtype.bits


def kernel_rows(design: Design) -> list[dict]:
    """Per kernel: name, op, lut/ff/dsp/bram_18k/uram (rounded up) and cycles per frame."""
    graph = design.graph
    rows = []
    for kernel in design.kernels:
        op = kernel.op
        if op is not None:
            fold = design.folding.get(op.name, LayerFold())
            cost = op.estimate(graph, fold)
            cycles = op.cycles(graph, fold)
            kind = op.op_type
        else:   # AXI input or stream split: one pixel per cycle, registers only
            width = stream_width(design, kernel.outputs[0])
            cost = Cost(lut=50, ff=width * (1 + len(kernel.outputs)) + 32)
            h, w = kernel.context["H"], kernel.context["W"]
            cycles = h * w
            kind = "split" if kernel.function.startswith("split_") else "input"
        for stream in kernel.inputs:
            if design.streams[stream].tensor:
                cost += fifo(stream_width(design, stream), design.streams[stream].depth)
        rows.append({"name": kernel.function, "op": kind, **cost.rounded(), "cycles": int(cycles)})
    return rows


def totals(rows: list[dict]) -> dict[str, int]:
    return {key: sum(r[key] for r in rows) for key in ("lut", "ff", "dsp", "bram_18k", "uram")}


def estimate_report(design: Design, part, clock_ns: float) -> dict:
    """The full estimate report of a design on a part (see report.summarize)."""
    from .report import summarize

    graph = design.graph
    rows = kernel_rows(design)
    macs = sum(op.macs(graph.tensors[op.output]) for op in graph.weighted_ops)
    return summarize(source="estimate", part=part.full, clock_ns=clock_ns, layers=rows, total=totals(rows),
                     available=part.resources(), macs_per_frame=macs,
                     interval_cycles=max(r["cycles"] for r in rows), dsp_count=part.dsp)
