"""Building the hls4ml model from qgen's integer graph (hls4ml's layer-list API).

Not from raw QONNX: that path breaks on U-Nets in hls4ml 1.3 (empty Resize RoI, hls4ml#1266;
Resize/Concat left NCHW after channels-last conversion, hls4ml#1268; skip tensors read unscaled
with float scales; no ConvTranspose, #896). The integer graph has none of these problems, and every
precision below is the graph's own type, so the model is bit-exact by construction:

- a tensor of `bits`-wide codes with exponent e is ap_(u)fixed<bits, bits + e>;
- a conv's weights, accumulator and result are the learned weight type and the exact accumulator
  type (the result keeps the full accumulator: nothing is rounded);
- the activation is qgen's threshold layer on that accumulator; the mask is a one-level threshold
  at logit 1 (logit > 0).
"""
from __future__ import annotations

import numpy as np

from ..errors import QgenError
from ..hls.folding import Folding
from ..ir.graph import Graph
from ..ir.types import IntType
from .layers import fixed_type

PROJECT_NAME = "quantunet"
INPUT = "input_codes"


def precision(t: IntType) -> str:
    return f"ap_{'' if t.signed else 'u'}fixed<{t.bits},{t.bits + t.exp}>"


def _values(codes: np.ndarray, exp: int) -> np.ndarray:
    return codes.astype(np.float64) * 2.0 ** exp    # exact: small integers times a power of two


def _reuse_factor(n_in: int, n_out: int, multipliers: int) -> int:
    """hls4ml's reuse factor for a given number of parallel multipliers (hls4ml rounds to a valid one)."""
    return max(1, (n_in * n_out) // max(multipliers, 1))


class _Builder:
    def __init__(self, graph: Graph, folding: Folding):
        self.graph, self.folding = graph, folding
        self.layers: list[dict] = []
        self.config: dict = {}

    def set_precision(self, name: str, **types) -> None:
        entry = self.config.setdefault(name, {})
        entry.setdefault("Precision", {}).update(types)

    def add(self, layer: dict, **types) -> str:
        self.layers.append(layer)
        if types:
            self.set_precision(layer["name"], **types)
        return layer["name"]

    def threshold(self, name: str, x: str, thresholds: np.ndarray, acc: IntType, out: IntType) -> str:
        h, w, c = self.shape(x)
        return self.add({"class_name": "QgenThreshold", "name": name, "inputs": [x], "n_pixels": h * w,
                         "n_chan": c, "out_bits": out.bits,
                         "threshold_data": _values(thresholds, acc.exp).reshape(-1),
                         "threshold_precision": fixed_type(acc.bits + 1, True, acc.exp)},
                        result=precision(out))

    def shape(self, name: str) -> tuple[int, int, int]:
        """[H, W, C] of an hls4ml layer's output, from the graph tensor it stands for."""
        c, h, w = self.graph.tensors[self.tensor_of[name]].shape
        return h, w, c

    def build(self) -> tuple[list[dict], dict, list[str]]:
        g = self.graph
        self.tensor_of = {INPUT: g.input.name}
        x = g.input
        self.add({"class_name": "InputLayer", "name": INPUT, "input_shape": [x.shape[1], x.shape[2], x.channels],
                  "data_format": "channels_last"}, result=precision(x.dtype))
        produced = {g.input.name: INPUT}
        for op in g.ops:
            ins = [produced[t] for t in op.inputs]
            handler = HANDLERS.get(op.op_type)
            if handler is None:
                raise QgenError(f"layer {op.name}: op {op.op_type} has no hls4ml mapping")
            produced[op.output] = handler(self, op, ins)
            self.tensor_of[produced[op.output]] = op.output
        logits, mask = g.outputs
        return self.layers, self.config, [produced[logits], produced[mask]]


def _conv(b: _Builder, op, ins) -> str:
    g = b.graph
    x, y = g.tensors[op.inputs[0]], g.tensors[op.output]
    k = op.kernel
    pad = k // 2
    _, h, w = x.shape
    acc = op.acc_type
    out_ch, window = op.fold_dims()
    fold = b.folding[op.name]
    conv_name = op.name if op.thresholds is None else f"{op.name}_conv"
    bias = op.bias if op.bias is not None else np.zeros(out_ch, np.int64)
    b.add({"class_name": "Conv2D", "name": conv_name, "inputs": ins, "data_format": "channels_last",
           "in_height": h, "in_width": w, "n_chan": x.channels, "n_filt": out_ch,
           "filt_height": k, "filt_width": k, "stride_height": 1, "stride_width": 1,
           "out_height": h, "out_width": w, "pad_top": pad, "pad_bottom": pad, "pad_left": pad, "pad_right": pad,
           "weight_data": _values(op.weights, op.weight_type.exp).transpose(2, 3, 1, 0),  # Keras [kh, kw, C, O]
           "bias_data": _values(bias, acc.exp)},
          weight=precision(op.weight_type), bias=precision(acc), accum=precision(acc), result=precision(acc))
    b.config[conv_name].update(ReuseFactor=_reuse_factor(window, out_ch, fold.pe * fold.simd), Strategy="Resource")
    b.tensor_of[conv_name] = op.output
    if op.thresholds is None:
        return conv_name
    return b.threshold(op.name, conv_name, op.thresholds.values, acc, y.dtype)


def _conv_transpose(b: _Builder, op, ins) -> str:
    g = b.graph
    x, y = g.tensors[op.inputs[0]], g.tensors[op.output]
    out_ch, c = op.fold_dims()
    taps = np.stack([op.weights[:, :, dy, dx] for dy in range(2) for dx in range(2)])   # [4, O, C]
    name = f"{op.name}_convT"
    b.add({"class_name": "QgenConvTranspose", "name": name, "inputs": ins, "in_height": x.shape[1],
           "in_width": x.shape[2], "n_chan": c, "n_filt": out_ch,
           "weight_data": _values(taps, op.weight_type.exp).reshape(-1),
           "weight_precision": fixed_type(op.weight_type.bits, True, op.weight_type.exp)},
          result=precision(op.acc_type))
    b.tensor_of[name] = op.output
    return b.threshold(op.name, name, op.thresholds.values, op.acc_type, y.dtype)


def _maxpool(b: _Builder, op, ins) -> str:
    x = b.graph.tensors[op.inputs[0]]
    _, h, w = x.shape
    return b.add({"class_name": "MaxPooling2D", "name": op.name, "inputs": ins, "data_format": "channels_last",
                  "in_height": h, "in_width": w, "n_filt": x.channels, "pool_height": 2, "pool_width": 2,
                  "stride_height": 2, "stride_width": 2, "out_height": h // 2, "out_width": w // 2,
                  "pad_top": 0, "pad_bottom": 0, "pad_left": 0, "pad_right": 0},
                 result=precision(x.dtype))


def _upsample(b: _Builder, op, ins) -> str:
    x = b.graph.tensors[op.inputs[0]]
    _, h, w = x.shape
    return b.add({"class_name": "Resize", "name": op.name, "inputs": ins, "in_height": h, "in_width": w,
                  "out_height": 2 * h, "out_width": 2 * w, "n_chan": x.channels, "algorithm": "nearest",
                  "align_corners": False, "data_format": "channels_last"},
                 result=precision(x.dtype))


def _concat(b: _Builder, op, ins) -> str:
    y = b.graph.tensors[op.output]
    if len(ins) != 2:
        raise QgenError(f"layer {op.name}: hls4ml concatenates exactly two tensors")
    # the output type holds both inputs' values exactly: the cast is the exponent-aligning shift
    return b.add({"class_name": "Concatenate", "name": op.name, "inputs": ins, "op": "concatenate3d",
                  "axis": -1}, result=precision(y.dtype))


def _mask(b: _Builder, op, ins) -> str:
    logits = b.graph.tensors[op.inputs[0]].dtype
    return b.threshold(op.name, ins[0], np.ones((1, 1), np.int64), logits, IntType(1, False, 0))


HANDLERS = {"conv": _conv, "conv_transpose": _conv_transpose, "maxpool": _maxpool, "upsample": _upsample,
            "concat": _concat, "mask": _mask}


def build_layer_list(graph: Graph, folding: Folding) -> tuple[list[dict], dict, list[str]]:
    """(layer list, per-layer 'LayerName' config, output layer names)."""
    return _Builder(graph, folding).build()


def build_model(graph: Graph, folding: Folding, part: str, clock_ns: float, output_dir: str, templates_dir=None):
    """An hls4ml ModelGraph of the graph (Vitis backend, io_stream, name-granularity precisions)."""
    import hls4ml
    from hls4ml.model.graph import ModelGraph

    from .layers import register

    register("Vitis", templates_dir)
    layers, layer_config, outputs = build_layer_list(graph, folding)
    config = hls4ml.utils.config.create_config(output_dir=output_dir, project_name=PROJECT_NAME,
                                               backend="Vitis", part=part, clock_period=clock_ns,
                                               io_type="io_stream")
    config["HLSConfig"] = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Resource"},
                           "LayerName": layer_config}
    return ModelGraph.from_layer_list(config, layers, inputs=[INPUT], outputs=outputs)
