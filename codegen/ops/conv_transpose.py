"""Transposed convolution with kernel 2, stride 2 (U-Net up-sampling), optional threshold activation.

Every output pixel (2i+dy, 2j+dx) sees exactly one input pixel (i, j) through tap (dy, dx), so it is a
1x1 convolution whose weights depend on the output pixel's parity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hls.dependence import REGISTERS, CarriedBuffer
from ..ir.tensor import Tensor
from ..ir.types import IntType
from .activation import Thresholds
from ..resources import formulas
from ..resources.formulas import Cost
from .base import register_op
from .conv import RAM_IMPL, WeightedOp, accumulator_bounds, mvau_context, mvau_data


@register_op
@dataclass(eq=False)
class ConvTranspose2x2(WeightedOp):
    op_type = "conv_transpose"

    weights: np.ndarray = None          # int64 [O, C, 2, 2] (note: PyTorch stores [C, O, 2, 2])
    weight_type: IntType = None
    thresholds: Thresholds | None = None
    bias: None = None

    def accumulator_bounds(self, x: Tensor):
        # one tap per output pixel: bound each (dy, dx) separately, then take the extremes
        per_tap = [accumulator_bounds(self.weights[:, :, dy, dx], x.ch_min, x.ch_max)
                   for dy in range(2) for dx in range(2)]
        lo = np.min([lo for lo, _ in per_tap], axis=0)
        hi = np.max([hi for _, hi in per_tap], axis=0)
        return lo, hi

    def infer(self, inputs: list[Tensor]) -> Tensor:
        (x,) = inputs
        if x.channels != self.weights.shape[1]:
            raise ValueError(f"layer {self.name}: expects {self.weights.shape[1]} input channels, got {x.channels}")
        lo, hi = self.accumulator_bounds(x)
        return self._output(lo, hi, (self.weights.shape[0], 2 * x.shape[1], 2 * x.shape[2]), x.dtype.exp)

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        n, _, h, w = x.shape
        taps = np.tensordot(x.astype(np.float64), self.weights.astype(np.float64), axes=([1], [1]))
        # taps: [N, H, W, O, 2, 2] -> [N, O, H, 2, W, 2] -> [N, O, 2H, 2W]
        acc = taps.transpose(0, 3, 1, 4, 2, 5).reshape(n, -1, 2 * h, 2 * w)
        return acc.astype(np.int64)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self._activate(self.accumulate(x))

    def macs(self, output: Tensor) -> int:
        o, c = self.weights.shape[:2]
        return int(o * c * output.shape[1] * output.shape[2])

    template = "kernels/conv_transpose.cpp.j2"

    def weight_depth(self, fold) -> int:
        return 4 * self.folds(fold)             # every tap's folds

    def carried_buffers(self, graph, fold) -> list[CarriedBuffer]:
        """conv_transpose.cpp.j2's input row: row[j] is stored in output row 2i and loaded at the same
        j of output row 2i + 1, 2W output pixels of NF * SF iterations later."""
        _, _, w = graph.tensors[self.inputs[0]].shape
        return [CarriedBuffer("row", 2 * w * self.folds(fold), self.pipeline_depth(fold))]

    def kernel_context(self, graph, fold) -> dict:
        x, y = graph.tensors[self.inputs[0]], graph.tensors[self.output]
        out_ch, length = self.fold_dims()
        return {**mvau_context(self, x, y, fold, out_ch, length), "H": x.shape[1], "W": x.shape[2],
                "ITERATIONS": self.cycles(graph, fold), **self.buffer_context(graph, fold),
                "ROW_IMPL": RAM_IMPL.get(formulas.ram_impl(x.channels * x.dtype.bits, x.shape[2]), "lutram")}

    def kernel_data(self, graph, fold) -> dict:
        taps = [self.weights[:, :, dy, dx] for dy in range(2) for dx in range(2)]  # tap = dy * 2 + dx
        return mvau_data(self, fold, taps)

    def estimate(self, graph, fold) -> formulas.Breakdown:
        """MVAU over the four taps + the one-row input buffer, the lane multiplexer and registers."""
        x, y = graph.tensors[self.inputs[0]], graph.tensors[self.output]
        out_ch, length = self.fold_dims()
        nf, sf = out_ch // fold.pe, length // fold.simd
        a = x.dtype.bits
        (row,) = self.carried_buffers(graph, fold)
        memory = formulas.register_buffer if row.storage == REGISTERS else formulas.ram
        return (self._mvau_cost(graph, fold, 4 * nf * sf)
                .add("line_buffer", memory(x.channels * a, x.shape[2]))
                .add("window", formulas.window_mux(fold.simd * a, sf) + Cost(ff=length * a + out_ch * y.dtype.bits)))

    def fold_dims(self) -> tuple[int, int]:
        o, c = self.weights.shape[:2]
        return o, c

    def schedule(self, graph, fold):
        """conv_transpose.cpp.j2: loops i, dy, j, dx, f over the OUTPUT; the first fold of output
        (2i, 2j) reads input (i, j), the last fold of every output pixel writes it. Odd output rows
        read nothing, so the producer must be able to run ahead by up to a row (see the FIFO sizing)."""
        from ..timing.schedule import Schedule
        _, h, w = graph.tensors[self.inputs[0]].shape
        folds = self.folds(fold)
        i, dy, j, dx = np.meshgrid(np.arange(h), np.arange(2), np.arange(w), np.arange(2), indexing="ij")
        first = np.arange(i.size, dtype=np.int64) * folds
        return Schedule(i.size * folds, self.pipeline_depth(fold), [first[((dy == 0) & (dx == 0)).ravel()]],
                        [first + folds - 1])

    def cycles(self, graph, fold) -> int:
        """Iterations of the flattened loop: one output pixel (a 1x1 product of the tap under it) per NF * SF."""
        _, h, w = graph.tensors[self.output].shape
        return h * w * self.folds(fold)
