"""Channel concatenation of skip connections, aligning power-of-two exponents with left shifts.

Input i with exponent e_i is shifted left by e_i - min(e): the values are unchanged, only their
common grid gets finer. The output type is the narrowest one holding every shifted code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..hls.cpp import code_type, pixel_type
from ..ir.tensor import Tensor
from ..ir.types import IntType
from .base import PROLOGUE, Op, register_op


@register_op
@dataclass(eq=False)
class Concat(Op):
    op_type = "concat"
    fuses_as = PROLOGUE     # read by the conv after it (kernels/concat_read.j2)
    shifts: list[int] = field(default_factory=list)   # set by infer

    def infer(self, inputs: list[Tensor]) -> Tensor:
        sizes = {t.shape[1:] for t in inputs}
        if len(sizes) != 1:
            raise ValueError(f"layer {self.name}: cannot concatenate spatial sizes {sorted(sizes)}")
        exp = min(t.dtype.exp for t in inputs)
        self.shifts = [t.dtype.exp - exp for t in inputs]
        ch_min = np.concatenate([t.ch_min << s for t, s in zip(inputs, self.shifts)])
        ch_max = np.concatenate([t.ch_max << s for t, s in zip(inputs, self.shifts)])
        lo = min(t.dtype.min_code << s for t, s in zip(inputs, self.shifts))
        hi = max(t.dtype.max_code << s for t, s in zip(inputs, self.shifts))
        dtype = IntType.covering(lo, hi, exp, signed=any(t.dtype.signed for t in inputs))
        channels = sum(t.channels for t in inputs)
        return Tensor(self.output, (channels, *inputs[0].shape[1:]), dtype, ch_min, ch_max)

    template = "kernels/concat.cpp.j2"

    def prologue_inputs(self, graph, ports: list[str]) -> list[dict]:
        """kernels/concat_read.j2's `inputs`: per input stream (argument `ports[i]`) its pixel type,
        channels, first output channel and left shift."""
        inputs, offset = [], 0
        for port, name, shift in zip(ports, self.inputs, self.shifts):
            t = graph.tensors[name]
            inputs.append(dict(port=port, stream_type=pixel_type(name), channels=t.channels, offset=offset,
                               shift=shift))
            offset += t.channels
        return inputs

    def kernel_context(self, graph, fold=None) -> dict:
        y = graph.tensors[self.output]
        ports = [f"in{i}" for i in range(len(self.inputs))]
        return dict(name=self.name, H=y.shape[1], W=y.shape[2], inputs=self.prologue_inputs(graph, ports),
                    out_pixel=pixel_type(y.name), out_t=code_type(y.name))

    def reference(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate([x << s for x, s in zip(xs, self.shifts)], axis=1)
