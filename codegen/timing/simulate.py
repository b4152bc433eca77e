"""Cycle-level model of the dataflow design: every kernel's pipelined loop, every FIFO bounded.

What is modelled (qgen's own templates; an edited template needs Vitis cosim):
- Each kernel is one flattened loop at II=1 (`Schedule`): iteration i issues one cycle after
  iteration i-1 unless it waits; its reads happen at issue, its writes `depth` cycles later.
- A read of token k waits until k was written (a FIFO has one cycle of latency); a write of token
  k waits until token k - depth was read (the FIFO is full until then). External AXI ports never
  wait (or, for FIFO sizing, the input arrives at a given rate).
- `style="stall"` (Vitis's default stall pipeline): the pipeline moves in lock step, so the write
  of iteration i happens in the same cycle as the issue of iteration i + depth; a read that waits
  holds every pending write back, and a write that waits holds every read.
- `style="flush"` (`#pragma HLS PIPELINE style=flp`, UG1399 "Flushing Pipelines"): iterations in
  flight leave the pipeline even when the next read waits; a write that waits still blocks the
  pipeline behind it (at most `depth` iterations in flight).
- Frames run back to back: a kernel starts frame f+1 when its loop has drained frame f.

Two engines compute the same times. The solver (`codegen.timing.solver`) solves whole kernels
at once with numpy and sweeps until the times settle, which they do in a few sweeps unless the
design deadlocks; the event engine (`codegen.timing.events`) runs the kernels as coroutines, one
step per token, and says where a deadlock waits. `simulate` tries the solver first and hands over
to the event engine when it gives up; tests/test_timing_solver.py holds both to the same results.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import QgenError
from . import events, solver
from .events import EMPTY, FULL  # noqa: F401 - part of this module's interface
from .schedule import TimingModel

STYLES = ("flush", "stall")
UNBOUNDED = 1 << 62
MAX_EVENTS = 200_000_000        # reads + writes over all frames: the model keeps every token's time


@dataclass
class SimResult:
    style: str
    frames: int
    deadlock: bool
    blocked: list[dict]
    interval_cycles: int | None
    fps: float | None
    frame_done: list[int]
    fifos: list[dict]
    kernels: list[dict]
    stalls: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)   # kernel -> (fifo, state) -> cycles

    def to_json(self) -> dict:
        return {"deadlock": self.deadlock, "blocked": self.blocked, "interval_cycles": self.interval_cycles,
                "fps": self.fps, "frames": self.frames, "fifos": self.fifos, "kernels": self.kernels}

    def peak(self, fifo: str) -> int:
        return next(f["peak"] for f in self.fifos if f["name"] == fifo)

    def stalled_on(self, kernel: str, fifo: str, state: str) -> int:
        return self.stalls.get(kernel, {}).get((fifo, state), 0)


def simulate(model: TimingModel, *, frames: int = 2, style: str = "flush", depths: dict[str, int] | None = None,
             input_period: float | None = None, depth_factor: float = 1.0, depth_add: int = 0,
             progress: Callable[[float], None] | None = None, engine: str = "auto",
             stall_causes: bool = True) -> SimResult | None:
    """Run `frames` frames back to back. `depths` overrides declared FIFO depths (UNBOUNDED for none);
    `input_period` makes the AXI input deliver one word per that many cycles (FIFO sizing);
    `depth_factor`/`depth_add` deepen every pipeline (read-ahead margin). `engine="events"` skips
    the solver (same results, for comparison); `engine="solver"` never falls back to the event
    engine and returns None where the solver does not settle (a deadlock, or backpressure too
    deep: a search that only needs to know whether depths keep the interval takes that as no).
    `stall_causes=False` spares the solver the per-kernel stall causes (stall cycles then read 0),
    for searches that only need the interval."""
    if style not in STYLES:
        raise QgenError(f"unknown pipeline style {style!r} (use {' or '.join(STYLES)})")
    if engine not in ("auto", "events", "solver"):
        raise QgenError(f"unknown engine {engine!r} (use auto, events or solver)")
    if frames < 1:
        raise QgenError("frames must be at least 1")
    transfers = frames * sum(a.size for k in model.kernels for a in (*k.schedule.reads, *k.schedule.writes))
    if transfers > MAX_EVENTS:
        raise QgenError(f"{frames} frames of this design are {transfers:,} FIFO transfers; the model keeps at most "
                        f"{MAX_EVENTS:,} (use fewer frames)")
    shallow = next((k.name for k in model.kernels if int(round(k.schedule.depth * depth_factor)) + depth_add < 1), None)
    if shallow is not None:
        raise QgenError(f"kernel {shallow}: a pipeline needs at least one stage (its writes leave after its issue)")
    declared = dict(model.depths)
    for name, d in (depths or {}).items():
        if name not in declared:
            raise QgenError(f"no FIFO named {name!r}; FIFOs: {', '.join(sorted(declared)[:8])}, ...")
        declared[name] = d
    declared.update(dict.fromkeys(model.external, UNBOUNDED))
    run = dict(frames=frames, style=style, depths=declared, inputs=_input_words(model, frames, input_period),
               depth_factor=depth_factor, depth_add=depth_add)
    trace = solver.solve(model, stall_causes=stall_causes, **run) if engine != "events" else None
    if trace is None and engine == "solver":
        return None
    if trace is None:          # a deadlock, or backpressure the sweeps do not settle: the event engine
        trace = events.run(model, progress=progress, **run)
    elif progress is not None:
        progress(1.0)
    return _result(model, style, frames, trace, declared)


def _input_words(model: TimingModel, frames: int, period: float | None) -> dict[str, np.ndarray]:
    """When each word of the external input is there: all from the start, or one per `period` cycles."""
    words = {}
    for k in model.kernels:
        for s, idx in zip(k.inputs, k.schedule.reads):
            if s in model.external:
                n = idx.size * frames
                words[s] = (np.floor(np.arange(n) * period) - 1).astype(np.int64) if period else \
                    np.full(n, -1, np.int64)
    return words


def _peak(writes: np.ndarray, reads: np.ndarray) -> int:
    """Most tokens a FIFO held at once (a token counts from its write to its read)."""
    if not writes.size:
        return 0
    return int((np.arange(1, writes.size + 1) - np.searchsorted(reads, writes, side="right")).max())


def steady_interval(frame_done: list[int]) -> int:
    """The longest gap between consecutive frames after the first (whose gap includes filling the
    pipeline): a design whose FIFOs make it alternate fast and slow frames keeps up only with the
    slow gap, which the last gap alone can hide. One frame: its own completion time."""
    gaps = np.diff(frame_done)
    if gaps.size == 0:
        return int(frame_done[0])
    return int(gaps[1:].max() if gaps.size > 1 else gaps[0])


def _result(model: TimingModel, style: str, frames: int, trace: events.Trace, depths: dict) -> SimResult:
    out = next((s for k in model.kernels for s in k.outputs if s in model.external), None)
    frame_done = []
    if out is not None:
        written = trace.writes[out]
        per_frame = next(i.size for k in model.kernels for s, i in zip(k.outputs, k.schedule.writes) if s == out)
        frame_done = [int(written[(f + 1) * per_frame - 1]) + 1 for f in range(frames)
                      if written.size >= (f + 1) * per_frame]
    interval = None
    if trace.done and frame_done:
        interval = steady_interval(frame_done)
    fps = 1e9 / (interval * model.clock_ns) if interval else None
    fifo_rows = [{"name": n, "depth": depths[n], "peak": _peak(trace.writes[n], trace.reads[n])} for n in model.depths]
    kernel_rows = [{"name": k.name, "busy_cycles": k.schedule.iterations * frames,
                    "stall_cycles": int(sum(trace.stalls.get(k.name, {}).values()))} for k in model.kernels]
    return SimResult(style, frames, not trace.done, trace.blocked, interval, fps, frame_done, fifo_rows, kernel_rows,
                     trace.stalls)


def free_run(model: TimingModel, *, frames: int, style: str, input_period: float | None = None,
             depth_factor: float = 1.0, depth_add: int = 0) -> SimResult:
    """The same model with every FIFO unbounded (FIFO sizing reads the peaks). Nothing flows
    backwards then, so the solver settles in one sweep in dataflow order, and no design deadlocks."""
    unbounded = dict.fromkeys([*model.depths, *model.external], UNBOUNDED)
    trace = solver.solve(model, frames=frames, style=style, depths=unbounded,
                         inputs=_input_words(model, frames, input_period), depth_factor=depth_factor,
                         depth_add=depth_add, stall_causes=False)
    if trace is None:
        raise QgenError("the dataflow graph has a cycle; the free-running model needs a feed-forward design")
    result = _result(model, style, frames, trace, unbounded)
    result.kernels, result.stalls = [], {}
    return result
