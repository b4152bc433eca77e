"""FIFO depths of the dataflow design.

A skip connection's FIFO must hold every encoder pixel the decoder has not consumed yet, plus
what pipelined kernels read ahead; too shallow and the design deadlocks in hardware (FINN users
report exactly this on U-Nets, finn#1094), while C-simulation with unbounded hls::stream never
shows it. A FIFO in front of a kernel that reads in bursts (the transposed conv reads only on
even output rows) must also absorb the burst, or its producer stalls and the frame rate drops.

Depths come from the cycle-level model of the kernels' own schedules (`codegen/timing`: each op
describes its loop next to its template); see `codegen.timing.sizing` for the read-ahead margin.
`required_depths` is the plain C-order backlog of the skip FIFOs (no read-ahead): a lower bound,
for tests and reports.
"""
from __future__ import annotations

import json

import numpy as np

from .. import cache
from ..timing.schedule import model_to_json
from ..timing.sizing import MAX_DEPTH, Sizing, interval_for_fps, peak_depths, size_fifos


def assign_depths(design, clock_ns: float = 10.0, right_size: bool = True, target_fps: float | None = None) -> Sizing:
    """Size every FIFO with the timing model and set the streams' depths; returns the sizing
    (depths, and the check runs' interval and frame rate). The sizing of a given set of schedules
    is kept in qgen's cache: an edited template or a rerun on the same checkpoint reuses it.
    `right_size=False` keeps the peak depths (a bound from above, seconds faster: the fitter's check).
    `target_fps`: a requested frame rate; right-sizing may slow the design down to it
    (timing/sizing.py: right_sized)."""
    model = design.timing_model(clock_ns)
    store = cache.shared()
    schedules = model_to_json(model)
    schedules["streams"] = sorted(s["name"] for s in schedules["streams"])     # sizing ignores declared depths
    allowed = interval_for_fps(target_fps, clock_ns) if right_size and target_fps is not None else None
    key = cache.content_key("fifo", cache.code_version(), json.dumps(schedules, sort_keys=True), str(right_size),
                            str(allowed))
    sizing = None
    stored = store.get_json("fifo", key)
    if stored is not None:
        try:
            sizing = Sizing.from_data(stored, model)
        except ValueError:
            store.discard("fifo", key)
    if sizing is None:
        sizing = size_fifos(model, floors=required_depths(design), cost=fifo_cost(design), right_size=right_size,
                            peak_sized=_peaks(model, store, schedules), max_interval=allowed)
        store.put_json("fifo", key, sizing.to_data())
    for name, depth in sizing.depths.items():
        design.streams[name].depth = depth
    return sizing


def _peaks(model, store, schedules: dict) -> dict[str, int]:
    """Step 1 of the sizing (peak depths), shared through the cache by the fitter's peak-sized check
    and the right-sizing that follows it on the same design."""
    key = cache.content_key("fifo", cache.code_version(), json.dumps(schedules, sort_keys=True), "peaks")
    stored = store.get_json("fifo", key)
    if isinstance(stored, dict) and set(stored) == set(model.depths) and all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DEPTH for d in stored.values()):
        return stored
    if stored is not None:
        store.discard("fifo", key)
    peaks = peak_depths(model)
    store.put_json("fifo", key, peaks)
    return peaks


def fifo_cost(design):
    """A FIFO's cost at a depth: (LUT-equivalents, (LUT, FF, BRAM_18K)), BRAM_18K at the xc7z020's
    190 LUTs each and FFs at half a LUT (codegen/resources/equivalents.py), for right-sizing to weigh
    what a depth saves without trading one resource for another."""
    from ..resources.estimate import stream_width
    from ..resources.formulas import fifo

    def cost(name: str, depth: int) -> tuple[float, tuple]:
        c = fifo(stream_width(design, name), depth)
        return c.lut + 0.5 * c.ff + 190 * c.bram_18k, (c.lut, c.ff, c.bram_18k)
    return cost


def one_deep_ff_bound(design) -> int:
    """The most FFs right-sizing to a requested rate can add: every FIFO that may go 1 deep
    (not a skip FIFO) as the register it would become (timing/sizing.py: one_deep)."""
    from ..resources.estimate import stream_width
    from ..resources.formulas import fifo

    skips = required_depths(design)
    extra = 0.0
    for name, stream in design.streams.items():
        if stream.tensor and name not in skips and stream.depth > 1:
            width = stream_width(design, name)
            extra += max(0.0, fifo(width, 1).ff - fifo(width, stream.depth).ff)
    return int(round(extra))


def needed(design, writer) -> dict[str, np.ndarray]:
    """Per stream downstream of kernel `writer` (its own outputs included): for each token, the last
    iteration of `writer` it depends on (in C order: a kernel's output token follows every input
    token read in its iterations up to the one that writes it)."""
    out = {s: w for s, w in zip(writer.outputs, writer.schedule(design).writes)}
    for kernel in design.kernels[design.kernels.index(writer) + 1:]:   # kernels are in dataflow order
        sched = kernel.schedule(design)
        for s_out, writes in zip(kernel.outputs, sched.writes):
            deps = []
            for s, reads in zip(kernel.inputs, sched.reads):
                if s in out:
                    last = np.searchsorted(reads, writes, side="right") - 1
                    deps.append(np.where(last >= 0, out[s][np.maximum(last, 0)], -1))
            if deps:
                out[s_out] = np.maximum.reduce(deps)
    return out


def required_depths(design) -> dict[str, int]:
    """C-order backlog of every stream that must wait for a sibling: the skip inputs of the kernels
    reading a concatenation, written by a kernel that also writes the path down to the sibling."""
    need = {}
    for kernel in design.kernels:
        if len(kernel.inputs) < 2:
            continue
        for s in kernel.inputs:
            writer = design.producer(s)
            if len(writer.outputs) < 2:          # written alone: read as it arrives
                continue
            dep = needed(design, writer)
            others = [dep[o] for o in kernel.inputs if o != s and o in dep]
            if others:
                # the reader takes token k of every input in one iteration: by then `writer` must
                # have run to the iteration the siblings' token k needs, writing that many of s
                must_have_run = np.maximum.reduce(others)
                written = np.searchsorted(dep[s], must_have_run, side="right")
                need[s] = int((written - np.arange(len(written))).max())
    return need


# The quick depth of a FIFO that only buffers: the timing model sizes most of them 4-95 deep (on the
# example's fitted design, median 32), and any depth from 3 to 32 costs the same one SRL per bit;
# priced at 2 (registers) the fitter missed 3 LUT on each and settled picks the sized design overran.
BUFFER_QUICK_DEPTH = 32


def estimate_depths(design, slack: int = 32) -> None:
    """Quick depths for the fitter's resource search: C-order backlog + `slack` on skip FIFOs,
    BUFFER_QUICK_DEPTH elsewhere. The project's depths always come from `assign_depths` (the timing
    model)."""
    need = required_depths(design)
    for name, stream in design.streams.items():
        backlog = need.get(name, 1)
        stream.depth = BUFFER_QUICK_DEPTH if backlog <= 1 else backlog + slack
