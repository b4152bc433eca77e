"""Choosing every layer's folding (PE, SIMD, multiplier type: lut, dsp, dsp2) to fit a part.

The dataflow interval is the slowest layer's cycles, so throughput is maximised by giving every
layer the cheapest folding that meets a common interval T and searching the smallest T that fits
(FINN's SetFolding balances the same way). "Cheapest" weighs each resource by its share of the
budget; when a resource overflows, single-layer changes repair it (see Fitter.cheapest_fitting), so
DSPs and LUT multipliers trade places as needed.
"""
from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass

import numpy as np

from ..errors import QgenError
from ..hls.design import build_design, fusion_plan
from ..hls.fifo import estimate_depths
from ..hls.folding import Folding, LayerFold, divisors, fold_options, fully_folded, mult_choices
from ..timing.sizing import interval_for_fps
from .calibration import calibrate_row
from .estimate import kernel_rows, totals

DEFAULT_HEADROOM = 0.8      # use at most 80 % of each resource: room for routing and the platform shell
BUDGETED = ("lut", "ff", "dsp", "bram_18k")


@dataclass
class _Option:
    fold: LayerFold
    cycles: int
    cost: dict


@dataclass
class _Choice:
    """One decision of the search: the foldings of a kernel's weighted ops (a layer, or a host with
    the op fused into it, whose lanes follow the host's PE), their cycles and summed cost."""
    folds: dict[str, LayerFold]
    cycles: int
    cost: dict


def option_cost(op, graph, fold, calibration=None) -> dict:
    """An option's estimated resources (the op's own cost model, scaled by the user's calibration)."""
    row = {"op": op.op_type, **op.estimate(graph, fold).rounded()}
    return calibrate_row(row, calibration)


def fused_weighted(graph) -> dict[str, object]:
    """Host name -> the weighted op that runs inside its kernel (the head: hls/design.py EPILOGUE).
    Its folding follows the host's (`op.fused_fold`), which the fitter keeps aligned."""
    return {host: op for host, op in fusion_plan(graph)[1].items() if op.weighted}


def fused_option_cost(op, graph, fold, calibration=None) -> dict:
    """A fused weighted op's resources at `fold` (its lanes: the host's PE), as its host carries them."""
    row = {"op": op.op_type, **op.epilogue_estimate(graph, None, None, fold.simd, fold).rounded()}
    return calibrate_row(row, calibration)


def _options(graph, fused: set[str], calibration=None) -> dict[str, list[_Option]]:
    """Every weighted op's foldings with their cycles and costs; `fused`: the ops run inside a host."""
    out = {}
    for op in graph.weighted_ops:
        options = []
        if op.name in fused:        # no cycles of its own: it runs in the host's loop
            for lanes in divisors(op.fold_dims()[1]):
                for mult in ("lut", "dsp"):
                    fold = op.fused_fold(LayerFold(lanes), mult)
                    options.append(_Option(fold, 0, fused_option_cost(op, graph, fold, calibration)))
            out[op.name] = options
            continue
        for base in fold_options(op):
            for mult in mult_choices(op, graph, base.pe):
                fold = LayerFold(base.pe, base.simd, mult)
                options.append(_Option(fold, op.cycles(graph, fold), option_cost(op, graph, fold, calibration)))
        out[op.name] = options
    return out


def _choices(options: dict[str, list[_Option]], fused: dict) -> dict[str, list[_Choice]]:
    """Per kernel, its choices: a layer's own options; a host's options each paired with the fused
    op aligned to it (lut or dsp products), so that the search prices the pair it will build."""
    fused_names = {op.name for op in fused.values()}
    out = {}
    for name, opts in options.items():
        if name in fused_names:
            continue
        op = fused.get(name)
        if op is None:
            out[name] = [_Choice({name: o.fold}, o.cycles, o.cost) for o in opts]
            continue
        inner = {o.fold: o for o in options[op.name]}
        pairs = []
        for o in opts:
            for mult in ("lut", "dsp"):
                aligned = inner[op.fused_fold(o.fold, mult)]
                pairs.append(_Choice({name: o.fold, op.name: aligned.fold}, o.cycles,
                                     {r: o.cost[r] + aligned.cost[r] for r in BUDGETED}))
        out[name] = pairs
    return out


def _fixed_cost(graph, fused: set[str], calibration=None) -> dict:
    """Everything the folding does not change: pixel-wise kernels, splits and all FIFOs."""
    ones = fully_folded(graph)
    design = build_design(graph, ones)
    estimate_depths(design)     # quick backlog depths: the project sizes its FIFOs with the timing model
    fixed = totals(kernel_rows(design, calibration))
    for op in graph.weighted_ops:   # the rows of weighted layers hold their FIFOs plus the layer itself
        price = fused_option_cost if op.name in fused else option_cost
        own = price(op, graph, ones[op.name], calibration)
        fixed = {k: fixed[k] - own[k] for k in fixed}
    return fixed


class Fitter:
    def __init__(self, graph, available: dict, headroom: float = DEFAULT_HEADROOM, calibration=None):
        self.available, self.headroom = available, headroom
        self.fused = fused_weighted(graph)
        names = {op.name for op in self.fused.values()}
        self.options = _options(graph, names, calibration)
        self.fixed = _fixed_cost(graph, names, calibration)
        self.choices = _choices(self.options, self.fused)
        self._cycles = {n: np.array([c.cycles for c in cs]) for n, cs in self.choices.items()}
        # DSP pairs cost LUTs and a pipeline stage to save DSPs: a repair where a resource binds,
        # never a starting choice (issue 17: packing "where the DSPs or LUTs are the limit")
        self._starts = {n: np.array([c.folds[n].mult != "dsp2" for c in cs]) for n, cs in self.choices.items()}
        self.relax(())

    def for_part(self, available: dict, headroom: float = DEFAULT_HEADROOM) -> "Fitter":
        """The same design budgeted for another part: option costs do not depend on the part, so
        comparing parts costs one lowering and one set of estimates (report-resources --parts)."""
        other = copy.copy(self)         # shares the options; relax() gives it its own budget
        other.available, other.headroom = available, headroom
        other.relax(())
        return other

    def relax(self, resources) -> None:
        """Stop budgeting `resources` (used when they cannot fit anyway)."""
        self.budget = {r: float("inf") if r in resources else self.available[r] * self.headroom for r in BUDGETED}
        self._b = np.array([max(self.budget[r], 1.0) if r not in resources else max(self.available[r], 1.0)
                            for r in BUDGETED])
        self._relaxed = np.array([r in resources for r in BUDGETED])
        # per kernel: choice costs [n, len(BUDGETED)] normalised by the budget
        self._cost = {n: np.array([[c.cost[r] for r in BUDGETED] for c in cs]) / self._b
                      for n, cs in self.choices.items()}

    def overflowing(self) -> list[str]:
        """Resources that exceed the budget even with every layer fully folded."""
        _, used, _ = self.cheapest_fitting(max(self.candidate_intervals()))
        return [r for r in BUDGETED if used[r] > self.budget[r]]

    def charge(self, extra: dict) -> None:
        """Count `extra` resources as fixed cost from now on (what the quick FIFO depths missed)."""
        self.fixed = {r: self.fixed[r] + extra.get(r, 0) for r in self.fixed}

    def fits(self, used: dict) -> bool:
        return all(used[r] <= self.budget[r] for r in BUDGETED)

    def cheapest_fitting(self, target: int) -> tuple[Folding, dict, bool]:
        """The least-resource folding meeting `target`.

        Start from every layer's cheapest option (resources priced by their share of the budget;
        DSP pairs left out), then repair: while a resource overflows, apply the single option change
        that removes the most overflow per unit of other resources it adds (e.g. one layer's
        multipliers from DSP to LUTs, or LUT products into DSP pairs), until the design fits or no
        change helps.
        """
        names = list(self.choices)
        fixed = np.array([self.fixed[r] for r in BUDGETED]) / self._b
        allowed = {n: np.flatnonzero(self._cycles[n] <= target) for n in names}
        for n in names:   # a layer that cannot meet the target runs as fast as it can
            if allowed[n].size == 0:
                allowed[n] = np.flatnonzero(self._cycles[n] == self._cycles[n].min())
        starts = {n: allowed[n][self._starts[n][allowed[n]]] for n in names}
        starts = {n: starts[n] if starts[n].size else allowed[n] for n in names}
        choice = {n: int(starts[n][np.argmin(self._cost[n][starts[n]].sum(axis=1))]) for n in names}
        used = fixed + sum(self._cost[n][choice[n]] for n in names)

        def overflow(u):    # (a tolerance: sums of normalised costs must not overflow by rounding)
            return np.where(self._relaxed, 0.0, np.maximum(u - 1.0 - 1e-9, 0.0)).sum(axis=-1)

        for _ in range(400):
            current = overflow(used)
            if current <= 0:
                break
            best = None
            for n in names:
                opts = allowed[n]
                delta = self._cost[n][opts] - self._cost[n][choice[n]]
                gain = current - overflow(used + delta)
                added = np.maximum(delta, 0.0).sum(axis=1) + 1e-9
                score = np.where(gain > 1e-12, gain / added, -np.inf)
                k = int(np.argmax(score))
                if score[k] > -np.inf and (best is None or score[k] > best[0]):
                    best = (score[k], n, int(opts[k]), delta[k])
            if best is None:
                break
            _, n, option, delta = best
            choice[n] = option
            used = used + delta
        folds = {name: fold for n in names for name, fold in self.choices[n][choice[n]].folds.items()}
        folding = Folding({name: folds[name] for name in self.options})
        totals_used = {r: int(round(v)) for r, v in zip(BUDGETED, used * self._b)}
        return folding, totals_used, bool(overflow(used) <= 0)

    def candidate_intervals(self) -> list[int]:
        return sorted({o.cycles for opts in self.options.values() for o in opts})

    def fastest_possible(self) -> int:
        return max(min(o.cycles for o in opts) for opts in self.options.values())

    def interval(self, folding: Folding) -> int:
        """The slowest weighted layer's cycles per frame under `folding` (one of this fitter's)."""
        return max(next(o.cycles for o in opts if o.fold == folding[name]) for name, opts in self.options.items())


def _overflow_message(fitter: Fitter, used: dict, what: str) -> str:
    parts = [f"{r} {used[r]:,} > {int(fitter.budget[r]):,}" for r in BUDGETED if used[r] > fitter.budget[r]]
    return f"{what}: {', '.join(parts)} (budget = {100 * fitter.headroom:g} % of the part)"


def fit_folding(graph, available: dict, headroom: float = DEFAULT_HEADROOM) -> Folding:
    """The fastest balanced folding that fits; QgenError if even the slowest folding does not."""
    return fastest_fitting(Fitter(graph, available, headroom))


def fastest_fitting(fitter: Fitter) -> Folding:
    folding, used, ok = fastest_within_budget(fitter)
    if not ok:
        raise QgenError(_overflow_message(fitter, used, "does not fit even fully folded"))
    return folding


def fastest_within_budget(fitter: Fitter) -> tuple[Folding, dict, bool]:
    """The fastest balanced folding within the budget, its resources and True; when even the
    slowest folding overflows, that folding, its resources and False."""
    intervals = [t for t in fitter.candidate_intervals() if t >= fitter.fastest_possible()]
    slowest = fitter.cheapest_fitting(intervals[-1])
    if not slowest[2]:
        return slowest
    lo, hi = 0, len(intervals) - 1          # intervals[hi] fits; find the smallest that does
    while lo < hi:
        mid = (lo + hi) // 2
        if fitter.cheapest_fitting(intervals[mid])[2]:
            hi = mid
        else:
            lo = mid + 1
    return fitter.cheapest_fitting(intervals[lo])


def cheapest_at_fps(fitter: Fitter, fps: float, clock_ns: float) -> tuple[Folding, dict, bool]:
    """The least-resource folding reaching `fps` frames/s, its resources and whether they are within
    the budget; QgenError when no folding reaches `fps` on any part (a layer at full parallelism
    is still too slow)."""
    intervals = fitter.candidate_intervals()
    target = min(interval_for_fps(fps, clock_ns), intervals[-1])
    fastest = fitter.fastest_possible()
    if target < fastest:
        raise QgenError(f"{fps:g} frames/s needs an interval of {target:,} cycles at {clock_ns} ns; the "
                        f"fastest folding reaches {fastest:,} cycles ({1e9 / (fastest * clock_ns):.1f} frames/s)")
    return fitter.cheapest_fitting(intervals[bisect.bisect_right(intervals, target) - 1])


SIZING_ROUNDS = 3


def with_sized_fifos(fitter: Fitter, pick, graph, clock_ns: float, calibration=None,
                     target_fps: float | None = None) -> tuple[Folding, dict, bool, int]:
    """`pick(fitter)` -> (folding, resources, fits), checked on the design the project will have;
    the resources returned are always that design's, never the fitter's quick figure, and so is
    the interval (the timing model's steady state with those FIFOs).

    The fitter prices FIFOs at quick depths (a skip's C-order backlog + slack, an SRL's 32
    elsewhere) and the fixed part of the design at full folding; the timing model sizes FIFOs
    deeper where kernels run in bursts. The design with peak-sized FIFOs (an upper bound of what right-sizing leaves, in every
    resource) is checked first, being seconds quicker to size; when it is over budget, the
    right-sized design the project will have decides (its sizing is cached for `qgen hls`). When
    that is over budget too, the gap between it and the fitter's figure is charged as fixed cost and
    the folding is picked again. A pick the fitter itself finds over budget is reported with its
    peak-sized figure (what the design would need at most).

    With `target_fps` (a requested frame rate) right-sizing may also trade a FIFO's LUTs for FFs
    (1-deep FIFOs, down to that rate): the peak-sized figure then counts every FIFO that could go
    1 deep at its register's FFs, to stay a bound in every resource, and its interval is the
    peak-sized design's (the project's may be longer, never below `target_fps`)."""
    from ..hls.fifo import assign_depths, one_deep_ff_bound

    def sized(folding: Folding, right_size: bool) -> tuple[dict, int]:
        design = build_design(graph, folding)
        interval = assign_depths(design, clock_ns, right_size=right_size, target_fps=target_fps).interval_cycles
        found = totals(kernel_rows(design, calibration))
        if target_fps is not None and not right_size:
            found["ff"] += one_deep_ff_bound(design)
        return {r: found[r] for r in BUDGETED}, interval

    folding, used, ok = pick(fitter)
    rounds = 0
    while True:
        figure, interval = sized(folding, right_size=False)
        if ok and not fitter.fits(figure):
            figure, interval = sized(folding, right_size=True)
        if fitter.fits(figure):
            return folding, figure, True, interval
        if not ok or rounds == SIZING_ROUNDS:
            return folding, figure, False, interval
        fitter.charge({r: max(0, figure[r] - used[r]) for r in BUDGETED})
        folding, used, ok = pick(fitter)
        rounds += 1


def folding_for_fps(graph, available: dict, fps: float, clock_ns: float,
                    headroom: float = DEFAULT_HEADROOM, calibration=None) -> Folding:
    """The least-resource folding reaching `fps` frames/s; QgenError when impossible."""
    fitter = Fitter(graph, available, headroom, calibration)
    folding, used, ok, _ = with_sized_fifos(fitter, lambda f: cheapest_at_fps(f, fps, clock_ns), graph, clock_ns,
                                            calibration, fps)
    if not ok:
        raise QgenError(_overflow_message(fitter, used, f"{fps:g} frames/s does not fit"))
    return folding


def choose_folding(graph, part, clock_ns: float, *, folding_path=None, folding: Folding | None = None,
                   fit: bool = False, target_fps: float | None = None, headroom: float = DEFAULT_HEADROOM,
                   calibration=None) -> tuple[Folding, str | None]:
    """The folding `qgen hls` uses, and a warning if the default could not fit the part.

    An explicit file wins; --target-fps and --fit fail loudly when impossible; the default fits the
    part like --fit, and falls back to the fully folded design (with a warning) when nothing fits.
    """
    if folding is not None:       # loaded (and checked) by the command before any heavy work
        return folding, None
    if folding_path is not None:
        return Folding.load(folding_path), None
    available = part.resources()
    if target_fps is not None:
        return folding_for_fps(graph, available, target_fps, clock_ns, headroom, calibration), None
    fitter = Fitter(graph, available, headroom, calibration)
    try:
        folding, used, ok, _ = with_sized_fifos(fitter, fastest_within_budget, graph, clock_ns, calibration)
        if not ok:
            raise QgenError(_overflow_message(fitter, used, "does not fit even fully folded"))
        return folding, None
    except QgenError as exc:
        if fit:
            raise
        # best effort: the fastest folding within the resources that can fit, so the user sees what
        # the design would need (e.g. weights beyond on-chip memory) instead of a useless slowest one
        over = fitter.overflowing()
        fitter.relax(over)
        try:
            folding = fastest_fitting(fitter)
        except QgenError:
            folding = fully_folded(graph)
        return folding, (f"{exc} on {part.short}; generated the fastest design within the other resources "
                         f"({', '.join(over)} over budget)")
