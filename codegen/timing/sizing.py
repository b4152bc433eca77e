"""FIFO depths from the cycle-level model, with a stated read-ahead margin.

1. Sizing run: every FIFO unbounded, the AXI input paced at the design's frame rate (one word per
   slowest-kernel-interval / pixels cycles), every pipeline assumed READ_AHEAD_FACTOR times deeper
   than its estimate plus READ_AHEAD_STAGES stages, both pipeline styles, as many frames as are in
   flight at once (first-frame latency / interval, plus 2), so that the steady state, where a skip
   FIFO holds the tail of one frame and the head of the next, is reached. (Without bounds nothing
   flows backwards, so this run is solved in closed form: `free_run`.) A FIFO's
   depth is its peak occupancy there plus one (so no write ever finds it full), at least 2.
   The margin covers kernels whose real pipelines are deeper than estimated: a stall-style kernel
   reads `depth` iterations ahead of its writes, and at a deep layer one extra pixel of
   read-ahead is worth thousands of full-resolution pixels in a skip FIFO.
2. Check run: the declared depths, nominal pipelines, input as fast as the design takes it, both
   styles, frames in flight plus one. A deadlock there (not expected: the sizing run is itself an execution within those
   depths) doubles the FIFOs reported full, and the check repeats.

The interval and frame rate the project reports are the check run's steady state (the slower
style), not the slowest kernel alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ..errors import QgenError
from .schedule import DEPTH_MARGIN_FACTOR, DEPTH_MARGIN_STAGES, MAX_DEPTH, TimingModel
from .simulate import FULL, STYLES, free_run, simulate

READ_AHEAD_FACTOR = DEPTH_MARGIN_FACTOR      # the same margin the loop-carried buffers assume
READ_AHEAD_STAGES = DEPTH_MARGIN_STAGES
MIN_DEPTH = 2


@dataclass
class Sizing:
    depths: dict[str, int]
    checks: dict[str, dict]                # per style, the check run: interval_cycles, fps, deadlock
    frames: int

    @property
    def interval_cycles(self) -> int:
        return max(c["interval_cycles"] for c in self.checks.values())

    def to_json(self) -> dict:
        return {
            "interval_cycles": self.interval_cycles,
            "fps": min(c["fps"] for c in self.checks.values()),
            "styles": {s: dict(c) for s, c in self.checks.items()},
            "frames": self.frames,
            "read_ahead_margin": f"pipelines {READ_AHEAD_FACTOR}x deeper than estimated + {READ_AHEAD_STAGES} stages",
        }

    def to_data(self) -> dict:
        return {"depths": self.depths, "checks": self.checks, "frames": self.frames}

    @classmethod
    def from_data(cls, data, model: TimingModel) -> "Sizing":
        """A sizing stored by `to_data` for `model` (qgen's cache); ValueError unless it is one."""
        if not isinstance(data, dict) or set(data) != {"depths", "checks", "frames"}:
            raise ValueError("not a stored sizing")
        depths, checks, frames = data["depths"], data["checks"], data["frames"]
        if not isinstance(depths, dict) or set(depths) != set(model.depths) or not all(
                _count(d) and d <= MAX_DEPTH for d in depths.values()):
            raise ValueError("stored depths do not fit the design")
        if not isinstance(checks, dict) or set(checks) != set(STYLES) or not _count(frames) or frames < 2:
            raise ValueError("stored check runs are damaged")
        for c in checks.values():
            if (not isinstance(c, dict) or set(c) != {"interval_cycles", "fps", "deadlock"} or c["deadlock"] is not False
                    or not _count(c["interval_cycles"]) or not isinstance(c["fps"], float) or not c["fps"] > 0):
                raise ValueError("stored check runs are damaged")
        return cls(dict(depths), {s: dict(c) for s, c in checks.items()}, frames)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def analytic_interval(model: TimingModel) -> int:
    """The slowest kernel's own cycles per frame (what the model would give with infinite FIFOs)."""
    return max(k.schedule.frame_cycles for k in model.kernels)


def input_period(model: TimingModel) -> float:
    words = next(i.size for k in model.kernels for s, i in zip(k.inputs, k.schedule.reads) if s in model.external)
    return analytic_interval(model) / max(words, 1)


def size_fifos(model: TimingModel, progress: Callable[[float], None] | None = None) -> Sizing:
    period = input_period(model)
    margin = dict(depth_factor=READ_AHEAD_FACTOR, depth_add=READ_AHEAD_STAGES)
    first = free_run(model, frames=1, style="stall", input_period=period, **margin)
    in_flight = math.ceil(first.frame_done[0] / analytic_interval(model))
    peaks = dict.fromkeys(model.depths, 0)
    for style in STYLES:
        run = free_run(model, frames=in_flight + 2, style=style, input_period=period, **margin)
        for f in run.fifos:
            peaks[f["name"]] = max(peaks[f["name"]], f["peak"])
    depths = {name: MIN_DEPTH if p < MIN_DEPTH else p + 1 for name, p in peaks.items()}
    nominal = free_run(model, frames=1, style="stall")       # frames in flight at full speed
    frames = max(2, math.ceil(nominal.frame_done[0] / analytic_interval(model)) + 1)
    for _ in range(8):
        results = {style: simulate(model, frames=frames, style=style, depths=depths) for style in STYLES}
        full = {b["fifo"] for r in results.values() if r.deadlock for b in r.blocked if b["state"] == FULL}
        if not any(r.deadlock for r in results.values()):
            return Sizing(depths, {s: {"interval_cycles": r.interval_cycles, "fps": r.fps, "deadlock": r.deadlock}
                                   for s, r in results.items()}, frames)
        if not full:
            break
        for name in full:
            depths[name] *= 2
    raise QgenError("no FIFO depths found that complete the dataflow model; please report this design")
