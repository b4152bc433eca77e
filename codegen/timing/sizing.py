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
2. Right-sizing: the peak of an unbounded run over-sizes a FIFO whose producer is faster than its
   consumer (the producer runs ahead where a bounded FIFO would only hold it back). Each FIFO
   deeper than a shift register (SHIFT_REGISTER_DEPTH: up to there every depth costs the same) is
   shrunk, costliest first, to the smallest of a few depths where its cost steps (powers of two
   from 32, and for a skip connection its C-order backlog: `floors`) at which the model still
   keeps the interval of the peak-sized design in both styles with every pipeline
   READ_AHEAD_FACTOR x deeper + READ_AHEAD_STAGES: the same margin, stated, as the sizing run.
   With a requested frame rate (--target-fps) whose interval is longer, that interval is the one
   kept, and FIFOs may also go 1 deep (a register instead of a shift register: `one_deep`).
3. Check run: the declared depths, nominal pipelines, input as fast as the design takes it, both
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
SHIFT_REGISTER_DEPTH = 32   # 2 to 32 deep a FIFO costs one LUT per bit (SRL or output multiplexer) at any depth
MIN_SAVING = 32             # LUT-equivalents a smaller FIFO must save to be worth a search
ONE_DEEP_CHECKS = 32        # model runs the search for 1-deep FIFOs may take (one_deep): the example U-Net's
                            # 27 FIFOs settle in 21 runs at 30 frames/s, 14 of them 1 deep (10 runs found 10: 566 LUT more)


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


def interval_for_fps(fps: float, clock_ns: float) -> int:
    """The longest interval (cycles per frame) that still gives `fps` frames/s at `clock_ns`."""
    return int(min(1e9 / (fps * clock_ns), 1 << 62))     # min(): a rate near zero allows any interval


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def analytic_interval(model: TimingModel) -> int:
    """The slowest kernel's own cycles per frame (what the model would give with infinite FIFOs)."""
    return max(k.schedule.frame_cycles for k in model.kernels)


def input_period(model: TimingModel) -> float:
    words = next(i.size for k in model.kernels for s, i in zip(k.inputs, k.schedule.reads) if s in model.external)
    return analytic_interval(model) / max(words, 1)


def _steps(floor: int, sized: int) -> list[int]:
    """The depths below `sized` worth trying for a FIFO: its floor, then where its cost steps."""
    steps = {max(MIN_DEPTH, floor)} | {1 << k for k in range(5, 31)}
    return sorted(d for d in steps if max(MIN_DEPTH, floor) <= d < sized)


def right_sized(model: TimingModel, sized: dict[str, int], frames: int, floors: dict[str, int],
               cost: Callable[[str, int], tuple] | None = None, max_interval: int | None = None) -> dict[str, int]:
    """Step 2 of the module doc: each FIFO at the smallest step keeping the peak-sized interval.
    `cost(fifo, depth)` -> (LUT-equivalents, resources) leaves out steps that save less than
    MIN_SAVING or need more of any resource (a BRAM FIFO shrunk into LUTRAM saves BRAMs for LUTs:
    the peak-sized design must stay a bound of the right-sized one in every resource, which the
    fitter relies on), and orders the FIFOs by what they could save; without it, every FIFO
    deeper than a shift register is tried.

    `max_interval`: the interval a requested frame rate allows (--target-fps). Where it is longer
    than the peak-sized design's, FIFOs may slow the design down to it, and 1-deep FIFOs (a register,
    no SRL or multiplexer: `one_deep`) are sought as well."""
    margin = dict(depth_factor=READ_AHEAD_FACTOR, depth_add=READ_AHEAD_STAGES)
    frames += 2         # at least two steady gaps between frames: a FIFO that makes them alternate shows
    target, slack = {}, False
    for style in STYLES:
        run = simulate(model, frames=frames, style=style, depths=sized, **margin)
        if run.deadlock:            # the margin run itself deadlocks: keep the peaks
            return dict(sized)
        target[style] = max(run.interval_cycles, max_interval or 0)
        slack = slack or target[style] > run.interval_cycles

    def keeps_interval(depths: dict[str, int], engine: str = "solver") -> bool:
        # what the solver cannot settle (a deadlock, deep backpressure) is a no; stall first: a
        # too-shallow FIFO shows there as well, in half the time the flush style takes to refuse it
        for style in ("stall", "flush"):
            run = simulate(model, frames=frames, style=style, depths=depths, engine=engine, stall_causes=False,
                           **margin)
            if run is None or run.deadlock or run.interval_cycles > target[style]:
                return False
        return True

    def worth(name: str) -> list[int]:
        if sized[name] <= SHIFT_REGISTER_DEPTH:
            return []
        steps = _steps(floors.get(name, MIN_DEPTH), sized[name])
        if cost is None:
            return steps
        keep, kept = cost(name, sized[name])
        priced = ((d, *cost(name, d)) for d in steps)
        return [d for d, equivalents, needs in priced if equivalents <= keep - MIN_SAVING and
                all(a <= b for a, b in zip(needs, kept))]

    candidates = {name: worth(name) for name in sized}
    order = sorted((n for n in sized if candidates[n]),
                   key=lambda n: -(cost(n, sized[n])[0] - cost(n, candidates[n][0])[0] if cost else sized[n]))
    depths = dict(sized)
    smallest = {name: candidates[name][0] for name in order}
    if order and keeps_interval({**depths, **smallest}):
        # every FIFO at its smallest step keeps the interval: since more depth never lengthens it,
        # that is what the one-at-a-time search below would find, in one run instead of one per step
        depths.update(smallest)
        order = []
    for name in order:
        steps = candidates[name]
        # more depth never lengthens the interval: bisect for the first step that keeps it, after
        # asking the two ends (most FIFOs keep it at none of their steps, or already at the smallest)
        if not keeps_interval({**depths, name: steps[-1]}):
            continue
        if len(steps) == 1 or keeps_interval({**depths, name: steps[0]}):
            depths[name] = steps[0]
            continue
        lo, hi = 1, len(steps) - 1          # steps[lo - 1] loses the interval, steps[hi] keeps it
        while lo < hi:
            mid = (lo + hi) // 2
            if keeps_interval({**depths, name: steps[mid]}):
                hi = mid
            else:
                lo = mid + 1
        depths[name] = steps[lo]
    if slack and cost is not None:
        # 1-deep FIFOs hold producers back at every token: the solver gives up on such backpressure,
        # the event engine (exact, slower) answers
        depths = one_deep(depths, floors, cost, lambda d: keeps_interval(d, engine="auto"))
    return depths


def one_deep(depths: dict[str, int], floors: dict[str, int], cost: Callable[[str, int], tuple],
             keeps_interval: Callable[[dict[str, int]], bool]) -> dict[str, int]:
    """1-deep FIFOs where the interval allows: a 1-deep FIFO is one register (Vitis's fifo_w*_d1_S)
    and passes at most one token every two cycles (full_n is registered), which a design with
    time to spare can afford. It trades the shift register's LUTs for the register's FFs, so it is
    taken only where it saves MIN_SAVING LUT-equivalents, fewer LUTs and no BRAM; skip FIFOs (with a
    floor) keep theirs. The FIFOs go in order of saving: the longest run of them that keeps the
    interval is found by bisection (more depth never lengthens it), the FIFO that ends it is left
    out and the search goes on with the rest, within ONE_DEEP_CHECKS model runs (each one is two
    event-engine runs: seconds on a full-size U-Net)."""
    def saving(name: str) -> float:
        kept, (lut, _, bram) = cost(name, depths[name])
        one, (lut1, _, bram1) = cost(name, 1)
        return kept - one if lut1 < lut and bram1 <= bram else 0.0

    rest = sorted((n for n in depths if depths[n] > 1 and n not in floors and saving(n) >= MIN_SAVING),
                  key=lambda n: -saving(n))
    taken: list[str] = []
    checks = 0
    while rest and checks < ONE_DEEP_CHECKS:
        lo, hi = 0, len(rest)       # rest[:lo] keep the interval at depth 1 (with `taken`); hi: upper bound
        while lo < hi and checks < ONE_DEEP_CHECKS:
            mid = (lo + hi + 1) // 2
            checks += 1
            if keeps_interval({**depths, **dict.fromkeys(taken + rest[:mid], 1)}):
                lo = mid
            else:
                hi = mid - 1
        if lo < hi:                 # out of checks before the run was settled
            break
        taken += rest[:lo]
        rest = rest[lo + 1:]        # rest[lo] loses the interval next to `taken`
    return {**depths, **dict.fromkeys(taken, 1)}


def peak_depths(model: TimingModel) -> dict[str, int]:
    """Step 1 of the module doc: every FIFO's peak + 1 (at least MIN_DEPTH) with the input paced at
    the slowest kernel's rate, in both styles, over the frames in flight, with the read-ahead margin."""
    period = input_period(model)
    margin = dict(depth_factor=READ_AHEAD_FACTOR, depth_add=READ_AHEAD_STAGES)
    first = free_run(model, frames=1, style="stall", input_period=period, **margin)
    in_flight = math.ceil(first.frame_done[0] / analytic_interval(model))
    peaks = dict.fromkeys(model.depths, 0)
    for style in STYLES:
        run = free_run(model, frames=in_flight + 2, style=style, input_period=period, **margin)
        for f in run.fifos:
            peaks[f["name"]] = max(peaks[f["name"]], f["peak"])
    return {name: MIN_DEPTH if p < MIN_DEPTH else p + 1 for name, p in peaks.items()}


def size_fifos(model: TimingModel, progress: Callable[[float], None] | None = None,
               floors: dict[str, int] | None = None, cost: Callable[[str, int], tuple] | None = None,
               right_size: bool = True, peak_sized: dict[str, int] | None = None,
               max_interval: int | None = None) -> Sizing:
    """Depths for every FIFO (module doc); `floors`: the C-order backlog of skip FIFOs, below which
    right-sizing does not look; `cost(fifo, depth)`: what a FIFO costs (see `right_sized`);
    `peak_sized`: step 1's depths when known (a `right_size=False` sizing of this model);
    `max_interval`: the interval a requested frame rate allows (see `right_sized`)."""
    depths = dict(peak_sized) if peak_sized is not None else peak_depths(model)
    nominal = free_run(model, frames=1, style="stall")       # frames in flight at full speed
    frames = max(2, math.ceil(nominal.frame_done[0] / analytic_interval(model)) + 1)
    if right_size:
        depths = right_sized(model, depths, frames, floors or {}, cost, max_interval)
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
