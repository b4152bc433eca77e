"""Op base class and registry.

Every op type of the integer graph is one class registered with `@register_op`. The class owns:
- shape/type inference (`infer`), from its input tensors and its own parameters;
- the bit-exact integer reference (`reference`), on int64 code arrays shaped [N, C, H, W];
- its row of the layer table (`summary`);
- the buffers its kernel stores and loads again in later loop iterations (`carried_buffers`), with
  the distance that decides their storage and DEPENDENCE pragma (codegen/hls/dependence.py);
and backends attach what they need to the same class through `op_type` (template, cost model).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..ir.tensor import Tensor
from ..resources.formulas import Breakdown, Cost

OPS: dict[str, type["Op"]] = {}

# Fusion roles (codegen/hls/design.py): an op whose kernel template can take others in says which in
# `hosts()`; an op that can run inside its neighbour's kernel says how in `fuses_as`.
PROLOGUE = "prologue"     # runs on the host's inputs: the host reads this op's input streams itself
EPILOGUE = "epilogue"     # runs on the host's output as it is written, and writes its own output
FANOUT = "fanout"         # the host writes its output into one stream per reader (no split kernel)


def register_op(cls: type["Op"]) -> type["Op"]:
    if not getattr(cls, "op_type", None):
        raise TypeError(f"{cls.__name__} needs an op_type")
    if cls.op_type in OPS:
        raise TypeError(f"op type {cls.op_type!r} registered twice")
    OPS[cls.op_type] = cls
    return cls


@dataclass(eq=False)
class Op:
    op_type: ClassVar[str] = ""
    weighted: ClassVar[bool] = False
    fuses_as: ClassVar[str | None] = None

    name: str
    inputs: list[str]
    output: str = field(default="")

    def __post_init__(self):
        if not self.output:
            self.output = self.name

    def infer(self, inputs: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def reference(self, *inputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cycles(self, graph, fold=None) -> int:
        """Clock cycles per frame of this op's kernel: by default one output pixel per cycle."""
        _, h, w = graph.tensors[self.output].shape
        return h * w

    def schedule(self, graph, fold=None):
        """The kernel's loop as the timing model sees it (codegen/timing/schedule.py): by default one
        pixel per iteration, every input read and the output written in each iteration."""
        from ..timing.schedule import pixelwise
        _, h, w = graph.tensors[self.output].shape
        return pixelwise(h * w, len(self.inputs), 1)

    def hosts(self) -> frozenset:
        """The fusion roles this op's kernel template can take in (none by default)."""
        return frozenset()

    def kernel_template(self, graph, fold=None) -> str:
        """The template of this op's kernel (ops with one kernel structure name it in `template`)."""
        return self.template

    def carried_buffers(self, graph, fold=None) -> list:
        """Arrays the kernel stores in one iteration and loads in a later one, each with the fewest
        iterations between a store and the load of the same element (hls.dependence.CarriedBuffer).
        Pixel-wise kernels keep nothing between iterations."""
        return []

    def buffer_context(self, graph, fold=None) -> dict:
        """Template variables <ARRAY>_STORAGE/_DISTANCE/_BOUND of every carried buffer."""
        out = {}
        for buffer in self.carried_buffers(graph, fold):
            out.update(buffer.context(buffer.array.upper()))
        return out

    def estimate(self, graph, fold=None):
        """Resources of this op's kernel as a Breakdown of parts (formulas.PARTS); pixel-wise kernels
        default to control + pixel registers (heuristic)."""
        y = graph.tensors[self.output]
        return Breakdown(control=Cost(lut=60, ff=2 * y.channels * y.dtype.bits + 32))

    def summary(self, inputs: list[Tensor], output: Tensor) -> dict:
        """One row of the layer table. Weighted ops add weight/accumulator figures."""
        return {
            "name": self.name,
            "op": self.op_type,
            "in_shape": [list(t.shape) for t in inputs],
            "out_shape": list(output.shape),
            "weight_bits": None,
            "in_bits": [t.dtype.bits for t in inputs] if len(inputs) > 1 else inputs[0].dtype.bits,
            "out_bits": output.dtype.bits,
            "acc_bits": None,
            "macs": 0,
            "weight_bytes": 0,
        }
