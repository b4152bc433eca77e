"""2x nearest-neighbour up-sampling of codes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hls.cpp import pixel_type
from ..hls.dependence import REGISTERS, CarriedBuffer
from ..ir.tensor import Tensor
from ..resources.formulas import Breakdown, Cost, ram, ram_impl, register_buffer
from .base import Op, register_op


@register_op
@dataclass(eq=False)
class Upsample2x(Op):
    op_type = "upsample"

    def infer(self, inputs: list[Tensor]) -> Tensor:
        (x,) = inputs
        c, h, w = x.shape
        return Tensor(self.output, (c, 2 * h, 2 * w), x.dtype, x.ch_min.copy(), x.ch_max.copy())

    template = "kernels/upsample.cpp.j2"
    PIPELINE_DEPTH = 2

    def carried_buffers(self, graph, fold=None) -> list[CarriedBuffer]:
        """upsample.cpp.j2's input row: row[j] is stored in output row 2i and loaded at the same j of
        output row 2i + 1, 2W iterations (one per output pixel) later."""
        _, _, w = graph.tensors[self.inputs[0]].shape
        return [CarriedBuffer("row", 2 * w, self.PIPELINE_DEPTH)]

    def kernel_context(self, graph, fold=None) -> dict:
        x = graph.tensors[self.inputs[0]]
        impl = ram_impl(x.channels * x.dtype.bits, x.shape[2])
        return dict(name=self.name, H=x.shape[1], W=x.shape[2], C=x.channels, in_pixel=pixel_type(x.name),
                    ROW_IMPL="lutram" if impl == "registers" else impl, **self.buffer_context(graph, fold))

    def estimate(self, graph, fold=None):
        """One buffered input row."""
        x = graph.tensors[self.inputs[0]]
        width = x.channels * x.dtype.bits
        (row,) = self.carried_buffers(graph, fold)
        memory = register_buffer if row.storage == REGISTERS else ram
        return Breakdown(line_buffer=memory(width, x.shape[2]), control=Cost(lut=60, ff=width + 32))   # control: heuristic

    def schedule(self, graph, fold=None):
        """upsample.cpp.j2: loops i, dy, j, dx over the output, one output pixel per iteration; the
        first iteration of each 2x2 block in an even row reads the input pixel."""
        from ..timing.schedule import Schedule
        _, h, w = graph.tensors[self.inputs[0]].shape
        i, dy, j, dx = np.meshgrid(np.arange(h), np.arange(2), np.arange(w), np.arange(2), indexing="ij")
        every = np.arange(i.size, dtype=np.int64)
        return Schedule(i.size, self.PIPELINE_DEPTH, [every[((dy == 0) & (dx == 0)).ravel()]], [every])

    def reference(self, x: np.ndarray) -> np.ndarray:
        return x.repeat(2, axis=2).repeat(2, axis=3)
