"""The hardware side of `qgen train`'s loss: the cost term (`--bit-loss cost`) and the fit hinge (`--part`).

Both come from the estimator `qgen report-resources` uses, on the design `qgen hls` would build:
- the model is lowered to the integer graph (the anchor) at its current rounded widths, every
  `refresh_steps` steps and at each epoch's end (0.3 s for the wearable preset);
- the reference folding is the one `qgen hls` would choose: the least-resource folding reaching
  `target_fps` when given, else the fastest folding that fits the part (the fully folded one when
  nothing fits). Its estimate gives the figures shown during training; the cost term prices the
  same PE/SIMD with each layer's multipliers in LUTs or DSPs, whichever costs fewer LUT-equivalents
  (see `_priced_multipliers`);
- between refreshes, `DesignCost` follows the widths as they move (retyped anchor, interpolated).

Cost term: the design's LUT-equivalents (resources/equivalents.py: every resource priced by the
part, e.g. one DSP48E1 = 241.8 LUTs on the xc7z020) divided by the same design's LUT-equivalents
with every width at its maximum, so like the mean-bitwidth term it lies in (0, 1] and lambda keeps
its meaning.

Fit hinge: sum over LUT/FF/DSP/BRAM of max(0, used / budget - 1), the budget being the fitter's
(`--max-utilization`, 80 % of the part by default). It is evaluated at the folding that must fit: the
target frame rate's folding, or without a target the least-resource (fully folded) one, since the
fitter can fold any design that fits that way. Zero while the design fits.
"""
from __future__ import annotations

import bisect
import copy

import torch

from quantunet.train import TrainingError

from ..errors import QgenError
from ..ir.frontend import lower_model
from ..resources.equivalents import PRICED, lut_equivalents, prices
from ..hls.folding import Folding, LayerFold
from ..resources.fit import DEFAULT_HEADROOM, Fitter, fastest_fitting, option_cost
from ..timing.sizing import interval_for_fps
from .design_cost import DesignCost
from .retype import Binding

FIGURES_SOURCE = "estimate: slowest kernel at the reference folding, quick FIFO depths (qgen hls simulates)"


class HardwareObjective:
    refresh_steps = 20      # re-lower this often: the interpolation is exact at the anchor's widths

    def __init__(self, part, *, enforce_fit: bool, target_fps: float | None = None, clock_ns: float = 10.0,
                 headroom: float = DEFAULT_HEADROOM, calibration=None):
        self.part, self.enforce_fit, self.target_fps = part, enforce_fit, target_fps
        self.clock_ns, self.headroom, self.calibration = clock_ns, headroom, calibration
        self.available = part.resources()
        self.prices = torch.tensor([prices(self.available)[r] for r in PRICED], dtype=torch.float64)
        self.budget = torch.tensor([max(self.available[r] * headroom, 1.0) for r in PRICED], dtype=torch.float64)
        self.cost_design = self.fit_design = self.fitted_design = None
        self.figures: dict | None = None
        self.norm = 1.0
        self.folding_label = ""

    # ---- anchor -------------------------------------------------------------------------------

    def refresh(self, model) -> dict:
        """Lower the model at its current widths, choose the reference folding, and return the
        estimated figures of the rounded widths (lut/ff/dsp/bram_18k, LUT-equivalents, frames/s, fits).
        If the model cannot be lowered, the last anchor stays (the widths still move the cost); with
        no anchor yet, TrainingError."""
        training = model.training
        # the frontend reads weights as numpy arrays: lower a CPU copy of a model trained on a GPU
        on_cpu = all(p.device.type == "cpu" for p in model.parameters())
        try:
            graph = lower_model(model if on_cpu else copy.deepcopy(model).cpu(), "training")
            self._anchor(model, graph)
        except QgenError as exc:
            if self.cost_design is None:
                raise TrainingError(f"cannot estimate the hardware of this model: {exc}") from None
        finally:
            model.train(training)
        return self.figures

    def _anchor(self, model, graph) -> None:
        binding = Binding.of(model, graph)
        cfg = model.cfg
        fitter = Fitter(graph, self.available, self.headroom, self.calibration)
        intervals = fitter.candidate_intervals()
        least, _, _ = fitter.cheapest_fitting(intervals[-1])
        if self.target_fps is not None:
            target = max(interval_for_fps(self.target_fps, self.clock_ns), fitter.fastest_possible())
            folding = fitter.cheapest_fitting(intervals[bisect.bisect_right(intervals, target) - 1])[0]
            fit_folding = folding
            self.folding_label = f"least resources at {self.target_fps:g} frames/s"
        else:
            try:
                folding, self.folding_label = fastest_fitting(fitter), "fastest that fits"
            except QgenError:
                folding, self.folding_label = least, "least resources (nothing fits)"
            fit_folding = least
        design = lambda f: DesignCost(graph, f, binding, cfg.min_bits, cfg.max_bits, self.calibration)  # noqa: E731
        self.fitted_design = design(folding)
        self.cost_design = design(self._priced_multipliers(graph, folding))
        self.fit_design = self.fitted_design if fit_folding == folding else design(fit_folding)
        self.norm = lut_equivalents(dict(zip(PRICED, self.cost_design.at((cfg.max_bits,) * binding.count))),
                                    self.available)
        self.figures = self._figures()

    def _priced_multipliers(self, graph, folding) -> Folding:
        """The folding with each layer's multipliers in LUTs or DSPs, whichever costs fewer
        LUT-equivalents at the current widths. The fitter moves multipliers to DSPs only when the
        LUT budget runs out; costed there, a DSP product is flat in its widths and would hide the
        weight x activation cost from the gradient, while every narrower product frees LUTs that the
        fitter turns into frame rate. DSP pairs (dsp2) stay out for the same reason."""
        priced = Folding()
        for op in graph.weighted_ops:
            fold = folding[op.name]
            options = [LayerFold(fold.pe, fold.simd, mult) for mult in ("lut", "dsp")]
            priced[op.name] = min(options, key=lambda f: lut_equivalents(option_cost(op, graph, f, self.calibration),
                                                                        self.available))
        return priced

    def _figures(self) -> dict:
        anchor = self.fitted_design.anchor_bits
        at_anchor = self.fitted_design.at(anchor)
        used = {r: int(round(v)) for r, v in zip(PRICED, at_anchor)}
        fit_used = at_anchor if self.fit_design is self.fitted_design else self.fit_design.at(anchor)
        fits = bool(all(u <= b for u, b in zip(fit_used, self.budget.tolist())))
        fps = 1e9 / (self.fitted_design.interval() * self.clock_ns)
        if self.target_fps is not None:
            fits = fits and fps >= self.target_fps
        return {"part": self.part.short, **used, "lut_equivalents": round(lut_equivalents(used, self.available), 1),
                "fps": round(fps, 1), "fits": fits,
                "folding": self.folding_label, "source": FIGURES_SOURCE}

    # ---- loss terms ---------------------------------------------------------------------------

    def _resources(self, design: DesignCost, model) -> torch.Tensor:
        if design is None:
            raise TrainingError("the hardware objective was used before its first refresh")
        bits = model.continuous_bit_widths().cpu().double()
        return design.resources(bits)

    def cost(self, model) -> torch.Tensor:
        """LUT-equivalents of the reference design at the current continuous widths / those at the maximum widths."""
        return (self._resources(self.cost_design, model) * self.prices).sum() / self.norm

    def hinge(self, model) -> torch.Tensor:
        """Sum of each resource's overshoot of the budget (fractions), zero while the design fits."""
        used = self._resources(self.fit_design, model)
        return torch.relu(used / self.budget - 1.0).sum()
