"""The estimated resources of one design as a differentiable function of continuous bitwidths.

The estimator (`codegen.resources.estimate.kernel_row`, built from every op's own cost model) is only
defined at integer widths. Each kernel's row depends on a few learned widths (its weights, its input
and output activations, those of the FIFOs feeding it: `retype.dependencies`), so the row is
interpolated multilinearly between the integer widths around the current ones: exact at integer
widths, continuous in between, and its gradient for a width is the row's change when that width
moves by one bit (a finite difference of the estimator itself, no second formula). Rows at integer
corners are computed from the retyped anchor and cached.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..hls.design import Design, build_design
from ..hls.fifo import estimate_depths
from ..resources.equivalents import PRICED
from ..resources.estimate import kernel_row, kernel_rows, totals
from .retype import Binding, dependencies, retype


@dataclass(frozen=True)
class _Row:
    index: int                      # position in design.kernels
    deps: tuple[int, ...]           # quantizer indices the row depends on, ascending


class DesignCost:
    """Resources (PRICED: lut, ff, dsp, bram_18k) of `graph` at `folding`, as a function of the widths.

    FIFO depths are the fitter's quick backlog depths (`estimate_depths`), fixed at the anchor:
    they follow from the folding, not from the widths."""

    def __init__(self, graph, folding, binding: Binding, min_bits: int, max_bits: int, calibration=None):
        self.graph, self.binding, self.calibration = graph, binding, calibration
        self.min_bits, self.max_bits = min_bits, max_bits
        self.design = build_design(graph, folding)
        estimate_depths(self.design)
        self.anchor_bits = binding.bits_of(graph)
        tensor_deps, op_deps = dependencies(graph, binding)
        rows = []
        for i, kernel in enumerate(self.design.kernels):
            deps = set().union(*(op_deps[op.name] for op in kernel.ops)) if kernel.op is not None else set()
            for stream in kernel.inputs + kernel.outputs:      # FIFOs and the split's registers
                tensor = self.design.streams[stream].tensor
                if tensor:
                    deps |= tensor_deps[tensor]
            rows.append(_Row(i, tuple(sorted(deps))))
        self.rows = rows
        self._cache: dict[tuple, np.ndarray] = {}

    # ---- integer widths: the estimator itself ---------------------------------------------------

    def _design_at(self, bits: tuple[int, ...]) -> Design:
        graph = retype(self.graph, self.binding, bits)
        ops = {op.name: op for op in graph.ops}
        kernels = [replace(k, **{role: ops[getattr(k, role).name] for role in ("op", "prologue", "epilogue")
                                 if getattr(k, role) is not None}) for k in self.design.kernels]
        return Design(graph, self.design.folding, kernels, self.design.streams)

    def row_at(self, row: _Row, local: tuple[int, ...]) -> np.ndarray:
        """The row's PRICED resources with its widths at `local` (one integer per dependency)."""
        key = (row.index, local)
        value = self._cache.get(key)
        if value is None:
            bits = list(self.anchor_bits)
            for i, b in zip(row.deps, local):
                bits[i] = b
            design = self._design_at(tuple(bits))
            r = kernel_row(design, design.kernels[row.index], self.calibration)
            value = self._cache[key] = np.array([r[k] for k in PRICED], dtype=np.float64)
        return value

    def at(self, bits: tuple[int, ...]) -> np.ndarray:
        """Total PRICED resources with every learned width at the integers `bits`."""
        used = totals(kernel_rows(self._design_at(tuple(bits)), self.calibration))
        return np.array([used[k] for k in PRICED], dtype=np.float64)

    def interval(self) -> int:
        """The slowest kernel's cycles per frame (the widths do not change it)."""
        return max(kernel_row(self.design, k)["cycles"] for k in self.design.kernels)

    # ---- continuous widths --------------------------------------------------------------------

    def resources(self, bits: torch.Tensor) -> torch.Tensor:
        """Total PRICED resources at continuous widths `bits` (quantizer order), differentiable:
        every row interpolated multilinearly between the integer widths around its own."""
        lo_all = torch.clamp(torch.floor(bits.detach()), self.min_bits, max(self.min_bits, self.max_bits - 1))
        frac_all = torch.clamp(bits - lo_all, 0.0, 1.0)
        total = torch.zeros(len(PRICED), dtype=bits.dtype)
        lo_int = [int(v) for v in lo_all.tolist()]
        for row in self.rows:
            if not row.deps:
                total = total + torch.as_tensor(self.row_at(row, ()), dtype=bits.dtype)
                continue
            frac = frac_all[list(row.deps)]
            base = [lo_int[i] for i in row.deps]
            for corner, upper in _corners(len(row.deps)):
                local = tuple(min(b + c, self.max_bits) for b, c in zip(base, corner))
                weight = torch.prod(torch.where(upper, frac, 1.0 - frac))
                total = total + weight * torch.as_tensor(self.row_at(row, local), dtype=bits.dtype)
        return total


@functools.lru_cache(maxsize=None)
def _corners(n: int) -> list[tuple[tuple[int, ...], torch.Tensor]]:
    """The 2^n corners of the unit cube around n widths, with the mask of widths taken at the upper end."""
    return [(c, torch.tensor(c, dtype=torch.bool)) for c in itertools.product((0, 1), repeat=n)]
