"""Lowering a trained QuantU-Net (Brevitas) into the integer graph.

Walks the model in the order of its forward pass and, for each layer, reads the integer weight
codes, checks that every scale is a power of two and every bitwidth is in range, computes the
accumulator bounds and folds BatchNorm + ReLU + quantizer into thresholds. The result is the single
source of truth for goldens, C-simulation and both HLS backends.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from quantunet.model import ConvBNAct, QuantUNet

from ..errors import QgenError
from ..ops import Concat, Conv, ConvTranspose2x2, Mask, MaxPool2x2, Thresholds, Upsample2x
from .fold import fold_thresholds
from .graph import Graph, InputQuant
from .tensor import Tensor
from .types import MAX_BITS, IntType

# The Brevitas/torch modules each layer kind may contain; anything else is refused by name.
SUPPORTED = {
    "conv3x3": ("QuantConv2d",), "conv1x1": ("QuantConv2d",),
    "convT2x2": ("QuantConvTranspose2d",), "upsample_conv3x3": ("QuantConv2d",),
}


def pot_exponent(scale, what: str) -> int:
    """log2 of a power-of-two scale, or a clear error naming `what`."""
    values = torch.as_tensor(scale).detach().flatten().unique()
    if values.numel() != 1:
        raise QgenError(f"{what}: per-channel scales are not supported (found {values.numel()} scales)")
    value = float(values[0])
    exp = math.log2(value) if value > 0 else math.nan
    if not math.isfinite(exp) or abs(exp - round(exp)) > 1e-9:
        raise QgenError(f"{what}: scale {value:g} is not a power of two; qgen needs fixed-point "
                        "(power-of-two) quantizers")
    return int(round(exp))


def _bits(bit_width, what: str) -> int:
    bits = float(torch.as_tensor(bit_width).detach())
    if not math.isfinite(bits) or bits != round(bits) or not 1 <= bits <= MAX_BITS:
        raise QgenError(f"{what}: bitwidth {bits:g} outside the supported integer range 1..{MAX_BITS}")
    return int(bits)


def _check_finite(module: nn.Module, layer: str) -> None:
    """NaN or infinite weights, statistics or bitwidths would fold into garbage thresholds."""
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise QgenError(f"layer {layer}: {name} holds NaN or infinite values")
    bn = getattr(module, "bn", None)
    if bn is not None and bool((bn.running_var < 0).any()):
        raise QgenError(f"layer {layer}: BatchNorm running_var holds negative values")


class _Lowering:
    def __init__(self, model: QuantUNet, name: str):
        if not model.cfg.quantized:
            raise QgenError(f"model '{name}' is a float baseline; only quantized checkpoints can be lowered")
        model.eval()
        self.model = model
        iq = model.input_quant.act_quant
        in_type = IntType(_bits(iq.bit_width(), "input quantizer"), False,
                          pot_exponent(iq.scale(), "input quantizer"))
        cfg = model.cfg
        shape = (cfg.in_channels, cfg.input_size, cfg.input_size)
        self.graph = Graph(name, InputQuant(in_type), Tensor.full_range("input", shape, in_type),
                           meta={"config": cfg.to_dict()})

    def weights(self, conv: nn.Module, layer: str) -> tuple[np.ndarray, IntType]:
        qw = conv.quant_weight()
        bits = _bits(qw.bit_width, f"layer {layer} weights")
        exp = pot_exponent(qw.scale, f"layer {layer} weights")
        codes = qw.int().detach().to(torch.int64).numpy()
        return codes, IntType(bits, True, exp)

    def layer(self, block: ConvBNAct, x: str) -> str:
        spec = block.spec
        kinds = SUPPORTED.get(spec.op)
        if kinds is None or type(block.conv).__name__ not in kinds:
            raise QgenError(f"layer {spec.name}: unsupported op {spec.op} ({type(block.conv).__name__})")
        if type(block.bn) is not nn.BatchNorm2d or type(block.act).__name__ != "QuantReLU":
            raise QgenError(f"layer {spec.name}: expected BatchNorm2d -> QuantReLU after the conv")
        _check_finite(block, spec.name)
        codes, wtype = self.weights(block.conv, spec.name)
        if spec.op == "convT2x2":
            codes = codes.transpose(1, 0, 2, 3)  # PyTorch [C, O, 2, 2] -> [O, C, 2, 2]
            op = ConvTranspose2x2(spec.name, [x], weights=codes, weight_type=wtype)
        else:
            if spec.op == "upsample_conv3x3":
                x = self.graph.add(Upsample2x(f"{spec.name}_upsample", [x])).name
            op = Conv(spec.name, [x], weights=codes, weight_type=wtype)
        x_tensor = self.graph.tensors[x]
        act = block.act.act_quant
        out_type = IntType(_bits(act.bit_width(), f"layer {spec.name} activations"), False,
                           pot_exponent(act.scale(), f"layer {spec.name} activations"))
        lo, hi = op.accumulator_bounds(x_tensor)
        acc_exp = x_tensor.dtype.exp + wtype.exp
        try:
            thresholds, negate = fold_thresholds(block.bn, block.act, lo, hi, acc_exp, 2 ** out_type.bits - 1)
        except ValueError as exc:
            raise QgenError(f"layer {spec.name}: {exc}") from None
        # decreasing channels (negative gamma): negate their weights so every map is "acc >= T"
        op.weights = np.where(negate[:, None, None, None], -op.weights, op.weights)
        op.thresholds = Thresholds(thresholds, out_type)
        return self._add(op)

    def head(self, x: str) -> str:
        head = self.model.head
        spec = self.model.specs[-1]
        if type(head).__name__ != "QuantConv2d" or head.kernel_size != (1, 1):
            raise QgenError(f"layer {spec.name}: expected a 1x1 QuantConv2d head")
        _check_finite(head, spec.name)
        codes, wtype = self.weights(head, spec.name)
        in_type = self.graph.tensors[x].dtype
        acc_scale = torch.tensor(2.0 ** (in_type.exp + wtype.exp))
        bias = None
        if head.bias is not None:
            # the bias quantizer takes its scale from input and weights: call its core directly
            value, scale, _, _ = head.bias_quant.tensor_quant(head.bias, acc_scale.view(-1))
            if pot_exponent(scale, f"layer {spec.name} bias") != in_type.exp + wtype.exp:
                raise QgenError(f"layer {spec.name}: bias scale differs from the accumulator scale")
            bias = torch.round(value / scale).detach().to(torch.int64).numpy()
        return self._add(Conv(spec.name, [x], weights=codes, weight_type=wtype, bias=bias))

    def _add(self, op) -> str:
        try:
            return self.graph.add(op).name
        except ValueError as exc:
            raise QgenError(str(exc)) from None

    def run(self) -> Graph:
        layers, depth = self.model.layers, self.model.cfg.depth
        x, skips = "input", []
        for level in range(1, depth + 1):
            x = self.layer(layers[f"enc{level}_conv1"], x)
            x = self.layer(layers[f"enc{level}_conv2"], x)
            skips.append(x)
            x = self._add(MaxPool2x2(f"pool{level}", [x]))
        x = self.layer(layers["bottleneck_conv1"], x)
        x = self.layer(layers["bottleneck_conv2"], x)
        for level in range(depth, 0, -1):
            x = self.layer(layers[f"up{level}"], x)
            x = self._add(Concat(f"concat{level}", [x, skips[level - 1]]))  # same order as the model
            x = self.layer(layers[f"dec{level}_conv1"], x)
            x = self.layer(layers[f"dec{level}_conv2"], x)
        logits = self.head(x)
        mask = self._add(Mask("mask", [logits]))
        self.graph.outputs = [logits, mask]
        return self.graph


def lower_model(model: QuantUNet, name: str = "quantunet") -> Graph:
    with torch.no_grad():
        return _Lowering(model, name).run()


def lower_checkpoint(ckpt) -> Graph:
    return lower_model(ckpt.build_model(), ckpt.name)
