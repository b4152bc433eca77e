"""The integer graph at other bitwidths, derived from one lowered graph (the anchor).

Training moves bitwidths continuously, but hardware is only defined at integer widths, and only a
lowered graph knows its exact accumulator and threshold widths. Lowering again for every width a
cost evaluation asks for would need the weights trained at that width; instead `retype` moves the
anchor's types:
- a learned width sets its tensor's or weights' bits; the range exponent is kept (the fixed-point
  quantizers keep their range and refine the grid), so the exponent moves the other way;
- one more weight or input bit makes the integer accumulator one bit wider (codes double), and the
  thresholds compared with it too; an activation width sets the threshold count (2^bits - 1);
- every other op (pool, up-sample, concat, mask) re-infers its output from its retyped inputs.
At the anchor's own widths `retype` returns the anchor's types exactly, so a cost computed from a
retyped graph equals the estimator's figure there (tests/test_cost_objective.py).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

from ..errors import QgenError
from ..ir.graph import Graph
from ..ir.tensor import Tensor
from ..ir.types import IntType


@dataclass(frozen=True)
class Binding:
    """Which learned bitwidth (an index into the model's `bit_quantizers()`) types which part of the graph."""
    weights: dict[str, int]    # weighted op -> its weight quantizer
    acts: dict[str, int]       # weighted op with an activation -> its activation quantizer
    count: int                 # number of learned bitwidths

    @classmethod
    def of(cls, model, graph: Graph) -> "Binding":
        """Bind a QuantU-Net's quantizers to its lowered graph (ops are named after the model's layers),
        checking that the graph was lowered at the model's current widths."""
        ops = {op.name: op for op in graph.weighted_ops}
        weights, acts = {}, {}
        rounded = [int(round(float(b))) for b in model.bit_widths().detach()]
        quantizers = model.bit_quantizers()
        for i, (layer, kind, _, _) in enumerate(quantizers):
            op = ops.get(layer)
            if op is None:
                raise QgenError(f"layer {layer} has a learned bitwidth but no op in the graph")
            if kind == "weight":
                weights[layer], bits = i, op.weight_type.bits
            else:
                if op.thresholds is None:
                    raise QgenError(f"layer {layer} has an activation bitwidth but no activation in the graph")
                acts[layer], bits = i, op.thresholds.out_type.bits
            if bits != rounded[i]:
                raise QgenError(f"layer {layer}: the graph has {bits}-bit {kind}s, the model {rounded[i]}")
        return cls(weights, acts, len(quantizers))

    def bits_of(self, graph: Graph) -> tuple[int, ...]:
        """The anchor's integer widths, in quantizer order."""
        out = [0] * self.count
        for op in graph.weighted_ops:
            if op.name in self.weights:
                out[self.weights[op.name]] = op.weight_type.bits
            if op.name in self.acts:
                out[self.acts[op.name]] = op.thresholds.out_type.bits
        return tuple(out)


@dataclass(frozen=True)
class ThresholdWidths:
    """What the cost model reads of an activation: its output type and the thresholds' type."""
    out_type: IntType
    dtype: IntType


def _shifted(t: IntType, delta: int, min_bits: int = 1) -> IntType:
    """`t` with `delta` more bits over the same range (finer grid): the exponent moves by -delta."""
    bits = max(min_bits, t.bits + delta)
    return IntType(bits, t.signed, t.exp - (bits - t.bits))


def retype(anchor: Graph, binding: Binding, bits: Sequence[int]) -> Graph:
    """The anchor graph with the learned widths `bits` (quantizer order). Ops are shallow copies: the
    anchor is not modified; weights and thresholds values are shared, and thresholds are replaced by
    their widths only (a retyped graph is for costing, not for running)."""
    graph = Graph(anchor.name, anchor.input_quant, anchor.input, meta=anchor.meta)
    graph.outputs = list(anchor.outputs)
    for op in anchor.ops:
        new = copy.copy(op)
        inputs = [graph.tensors[name] for name in op.inputs]
        if op.weighted:
            y = _retype_weighted(anchor, binding, bits, op, new, inputs[0])
        else:
            y = new.infer(inputs)
        graph.tensors[y.name] = y
        graph.ops.append(new)
    return graph


def _retype_weighted(anchor, binding, bits, op, new, x: Tensor) -> Tensor:
    anchor_x = anchor.tensors[op.inputs[0]].dtype
    dw = bits[binding.weights[op.name]] - op.weight_type.bits if op.name in binding.weights else 0
    grow = dw + (x.dtype.bits - anchor_x.bits)          # accumulator codes scale with weights x inputs
    new.weight_type = _shifted(op.weight_type, dw, 2)
    new.acc_type = IntType(max(2, op.acc_type.bits + grow), True, x.dtype.exp + new.weight_type.exp)
    shape = anchor.tensors[op.output].shape
    if op.thresholds is None:
        return Tensor.full_range(op.output, shape, new.acc_type)
    out = op.thresholds.out_type
    if op.name in binding.acts:
        out = _shifted(out, bits[binding.acts[op.name]] - out.bits)
    thr = op.thresholds.dtype
    new.thresholds = ThresholdWidths(out, IntType(max(2, thr.bits + grow), True, thr.exp))
    return Tensor.full_range(op.output, shape, out)


def dependencies(graph: Graph, binding: Binding) -> tuple[dict[str, frozenset[int]], dict[str, frozenset[int]]]:
    """(per tensor, per op): the learned widths (quantizer indices) its types depend on. An op
    depends on its own weights and on everything its input and output tensors depend on."""
    tensors: dict[str, frozenset[int]] = {graph.input.name: frozenset()}
    ops: dict[str, frozenset[int]] = {}
    for op in graph.ops:
        own = frozenset(i for i in (binding.weights.get(op.name),) if i is not None)
        from_inputs = frozenset().union(*(tensors[name] for name in op.inputs))
        if op.name in binding.acts:
            tensors[op.output] = frozenset({binding.acts[op.name]})
        else:      # the head's accumulator, and ops that pass their inputs' types on
            tensors[op.output] = own | from_inputs
        ops[op.name] = own | from_inputs | tensors[op.output]
    return tensors, ops
