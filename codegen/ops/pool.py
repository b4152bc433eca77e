"""2x2 max-pool, stride 2, on codes (max commutes with the monotone dequantisation)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hls.cpp import code_type, pixel_type
from ..hls.dependence import REGISTERS, CarriedBuffer
from ..ir.tensor import Tensor
from ..resources.formulas import Breakdown, Cost, pool_lanes, ram, ram_impl, register_buffer
from .base import EPILOGUE, Op, register_op


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
    fuses_as = EPILOGUE     # run on the output of the conv before it (kernels/maxpool_step.j2)
    PIPELINE_DEPTH = 3

    # The pool logic is the same alone and fused (kernels/maxpool_step.j2): it takes the input pixels
    # at some iterations of a loop (`times`: the iteration of every input pixel, raster order; one
    # pixel per iteration alone, the host's output writes fused) and works on `lanes` channels at a
    # time (all of them alone, the host's PE fused: channel group nf in the host's neuron fold nf,
    # at the same offset in every pixel). Everything timing-dependent follows from those iterations.

    def _distances(self, graph, times: np.ndarray) -> tuple[int, int]:
        """(partial, left): partial[b] is stored at column 2b+1 of an even row and loaded at that
        column of the next row; left at an even column and loaded at the odd column after it."""
        _, h, w = graph.tensors[self.inputs[0]].shape
        grid = np.asarray(times).reshape(h, w)
        return int((grid[1::2, 1::2] - grid[0::2, 1::2]).min()), int((grid[:, 1::2] - grid[:, 0::2]).min())

    def _buffers(self, graph, times, depth) -> list[CarriedBuffer]:
        partial, left = self._distances(graph, times)
        return [CarriedBuffer("partial", partial, depth), CarriedBuffer("left", left, depth)]

    def _pool_context(self, graph, ports, times, depth, lanes: int) -> dict:
        """kernels/maxpool_step.j2's macro argument `pool`."""
        x = graph.tensors[self.inputs[0]]
        partial, left = self._buffers(graph, times, depth)
        nf, width = x.channels // lanes, lanes * x.dtype.bits
        impl = {"PARTIAL_IMPL": ram_impl(width, x.shape[2] // 2 * nf), "LEFT_IMPL": ram_impl(width, nf)}
        return dict(name=self.name, C=x.channels, W=x.shape[2], PE=lanes, NF=nf,
                    in_t=code_type(x.name), pixel=pixel_type(x.name), ports=list(ports),
                    **{k: "lutram" if v == "registers" else v for k, v in impl.items()},
                    **partial.context("PARTIAL"), **left.context("LEFT"))

    def _pool_cost(self, graph, times, depth, lanes: int) -> Breakdown:
        """`partial` (W/2 x NF words of `lanes` codes) and `left` (NF words), memories or registers by
        their distances, two comparators per lane (heuristic: not calibrated) and the pooled pixel."""
        x = graph.tensors[self.inputs[0]]
        a, nf = x.dtype.bits, x.channels // lanes
        partial, left = self._buffers(graph, times, depth)
        rows = Cost()
        for buffer, words in ((partial, x.shape[2] // 2 * nf), (left, nf)):
            rows = rows + (register_buffer if buffer.storage == REGISTERS else ram)(lanes * a, words)
        return Breakdown(line_buffer=rows, window=pool_lanes(lanes, a) + Cost(ff=x.channels * a))

    def _alone(self, graph) -> np.ndarray:
        _, h, w = graph.tensors[self.inputs[0]].shape
        return np.arange(h * w, dtype=np.int64)       # maxpool.cpp.j2: one input pixel per iteration

    # ---- alone: maxpool.cpp.j2 ------------------------------------------------------------------

    def carried_buffers(self, graph, fold=None) -> list[CarriedBuffer]:
        return self._buffers(graph, self._alone(graph), self.PIPELINE_DEPTH)

    def kernel_context(self, graph, fold=None) -> dict:
        x = graph.tensors[self.inputs[0]]
        return dict(name=self.name, H=x.shape[1], W=x.shape[2], C=x.channels, in_pixel=pixel_type(x.name),
                    pool=self._pool_context(graph, ["out"], self._alone(graph), self.PIPELINE_DEPTH, x.channels))

    def estimate(self, graph, fold=None):
        x = graph.tensors[self.inputs[0]]
        return (self._pool_cost(graph, self._alone(graph), self.PIPELINE_DEPTH, x.channels)
                .add("control", Cost(lut=80, ff=32)))

    def schedule(self, graph, fold=None):
        """maxpool.cpp.j2: one input pixel per iteration; odd columns of odd rows write a result."""
        from ..timing.schedule import Schedule
        every = self._alone(graph)
        return Schedule(every.size, self.PIPELINE_DEPTH, [every], [self.epilogue_writes(graph, every)])

    # ---- fused behind the conv that produces its input (hls/design.py EPILOGUE) -------------------

    def epilogue_writes(self, graph, times: np.ndarray) -> np.ndarray:
        """The iterations at which pooled pixels are complete: the odd columns of odd input rows."""
        _, h, w = graph.tensors[self.inputs[0]].shape
        return np.asarray(times).reshape(h, w)[1::2, 1::2].ravel()

    def epilogue_buffers(self, graph, times, depth) -> list[CarriedBuffer]:
        return self._buffers(graph, times, depth)

    def epilogue_context(self, graph, ports, times, depth, lanes: int, fold=None) -> dict:
        return {"macros": "kernels/maxpool_step.j2", **self._pool_context(graph, ports, times, depth, lanes)}

    def epilogue_estimate(self, graph, times, depth, lanes: int, fold=None) -> Breakdown:
        return self._pool_cost(graph, times, depth, lanes)

    def cycles(self, graph, fold=None) -> int:
        _, h, w = graph.tensors[self.inputs[0]].shape  # one input pixel per cycle
        return h * w

    def reference(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
