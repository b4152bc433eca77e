"""2x2 max-pool, stride 2, on codes (max commutes with the monotone dequantisation)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hls.cpp import code_type, pixel_type
from ..hls.dependence import REGISTERS, CarriedBuffer
from ..ir.tensor import Tensor
from ..resources.formulas import Breakdown, Cost, ram, register_buffer
from .base import Op, register_op


@register_op
@dataclass(eq=False)
class MaxPool2x2(Op):
    op_type = "maxpool"

    def infer(self, inputs: list[Tensor]) -> Tensor:
        (x,) = inputs
        c, h, w = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"layer {self.name}: 2x2 max-pool needs even sizes, got {h}x{w}")
        return Tensor(self.output, (c, h // 2, w // 2), x.dtype, x.ch_min.copy(), x.ch_max.copy())

    template = "kernels/maxpool.cpp.j2"
    PIPELINE_DEPTH = 3

    def carried_buffers(self, graph, fold=None) -> list[CarriedBuffer]:
        """maxpool.cpp.j2's partial maxima: partial[b] is stored at column 2b+1 of an even input row and
        loaded at the same column of the next row, W iterations (one per input pixel) later."""
        _, _, w = graph.tensors[self.inputs[0]].shape
        return [CarriedBuffer("partial", w, self.PIPELINE_DEPTH)]

    def kernel_context(self, graph, fold=None) -> dict:
        x = graph.tensors[self.inputs[0]]
        return dict(name=self.name, H=x.shape[1], W=x.shape[2], C=x.channels,
                    in_pixel=pixel_type(x.name), in_t=code_type(x.name), **self.buffer_context(graph, fold))

    def estimate(self, graph, fold=None):
        """Row of partial maxima + two comparators per channel."""
        x = graph.tensors[self.inputs[0]]
        width = x.channels * x.dtype.bits
        (partial,) = self.carried_buffers(graph, fold)
        memory = register_buffer if partial.storage == REGISTERS else ram
        return Breakdown(line_buffer=memory(width, x.shape[2] // 2),            # heuristic below: not calibrated
                         window=Cost(lut=3 * width, ff=3 * width), control=Cost(lut=80, ff=32))

    def schedule(self, graph, fold=None):
        """maxpool.cpp.j2: one input pixel per iteration; odd columns of odd rows write a result."""
        from ..timing.schedule import Schedule, raster
        _, h, w = graph.tensors[self.inputs[0]].shape
        r, c = raster(h, w)
        every = np.arange(h * w, dtype=np.int64)
        return Schedule(h * w, self.PIPELINE_DEPTH, [every], [every[(r % 2 == 1) & (c % 2 == 1)]])

    def cycles(self, graph, fold=None) -> int:
        _, h, w = graph.tensors[self.inputs[0]].shape  # one input pixel per cycle
        return h * w

    def reference(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
