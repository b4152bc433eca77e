"""Binary segmentation mask: logits > 0, which equals sigmoid(logits) > 0.5 without a sigmoid."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hls.cpp import code_type, pixel_type
from ..ir.tensor import Tensor
from ..ir.types import IntType
from .base import Op, register_op


@register_op
@dataclass(eq=False)
class Mask(Op):
    op_type = "mask"

    def infer(self, inputs: list[Tensor]) -> Tensor:
        (x,) = inputs
        return Tensor.full_range(self.output, x.shape, IntType(1, False, 0))

    # The output kernel packs the mask with the logits into the accelerator's AXI output stream.
    template = "kernels/output.cpp.j2"

    def kernel_context(self, graph, fold=None) -> dict:
        x = graph.tensors[self.inputs[0]]
        if x.dtype.bits > 31:
            raise ValueError(f"logits need {x.dtype.bits} bits; the 32-bit output word holds 31")
        return dict(name=self.name, H=x.shape[1], W=x.shape[2], in_pixel=pixel_type(x.name),
                    in_t=code_type(x.name), LOGIT_EXP=x.dtype.exp, axis_out_t="axis_out_t")

    def reference(self, logits: np.ndarray) -> np.ndarray:
        return (logits > 0).astype(np.int64)
