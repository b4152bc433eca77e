"""QuantU-Net: the classic 23-layer U-Net with a learned bitwidth per quantizer.

Every weighted layer except the head is conv -> BatchNorm -> ReLU, the ReLU carrying the layer's
activation quantizer (unsigned, power-of-two scale, learned bitwidth). The up-sampling layers
follow the same pattern so that every tensor reaching a concatenation is an unsigned fixed-point
code. Skip tensors are concatenated as exact float values (a power-of-two grid each); codegen aligns
their exponents with a shift. The head is a 1x1 conv with an integer bias whose output are the
logits; the mask is `logits > 0`, which equals `sigmoid(logits) > 0.5`.

The float baseline (`quantized=False`) has the identical topology and parameter names.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv2d, QuantConvTranspose2d, QuantIdentity, QuantReLU
from torch import nn

from . import quantizers
from .config import ModelConfig


def plain(x):
    """The float value of a Brevitas QuantTensor (exact: code * 2**exponent), or x itself."""
    return getattr(x, "value", x)


@dataclass(frozen=True)
class LayerSpec:
    """Static description of one weighted layer, derived from the config alone."""
    name: str
    op: str            # conv3x3 | conv1x1 | convT2x2 | upsample_conv3x3
    in_channels: int
    out_channels: int
    out_size: int      # output height = width
    has_act: bool      # False only for the head (its output are the logits)

    @property
    def kernel(self) -> int:
        return {"conv3x3": 3, "conv1x1": 1, "convT2x2": 2, "upsample_conv3x3": 3}[self.op]

    @property
    def params(self) -> int:
        return self.in_channels * self.out_channels * self.kernel ** 2

    @property
    def out_elements(self) -> int:
        return self.out_channels * self.out_size ** 2

    @property
    def macs(self) -> int:
        if self.op == "convT2x2":  # every output pixel sees exactly one input pixel
            return self.in_channels * self.out_channels * self.out_size ** 2
        return self.params * self.out_size ** 2


def layer_specs(cfg: ModelConfig) -> list[LayerSpec]:
    """The weighted layers in execution order (23 for depth 4)."""
    specs: list[LayerSpec] = []
    width = lambda level: cfg.base_width * 2 ** (level - 1)  # noqa: E731
    size = lambda level: cfg.input_size // 2 ** (level - 1)  # noqa: E731
    cin = cfg.in_channels
    for level in range(1, cfg.depth + 1):
        specs.append(LayerSpec(f"enc{level}_conv1", "conv3x3", cin, width(level), size(level), True))
        specs.append(LayerSpec(f"enc{level}_conv2", "conv3x3", width(level), width(level), size(level), True))
        cin = width(level)
    bottom = cfg.depth + 1
    specs.append(LayerSpec("bottleneck_conv1", "conv3x3", cin, width(bottom), size(bottom), True))
    specs.append(LayerSpec("bottleneck_conv2", "conv3x3", width(bottom), width(bottom), size(bottom), True))
    cin = width(bottom)
    up_op = "convT2x2" if cfg.upsample == "transpose" else "upsample_conv3x3"
    for level in range(cfg.depth, 0, -1):
        specs.append(LayerSpec(f"up{level}", up_op, cin, width(level), size(level), True))
        specs.append(LayerSpec(f"dec{level}_conv1", "conv3x3", 2 * width(level), width(level), size(level), True))
        specs.append(LayerSpec(f"dec{level}_conv2", "conv3x3", width(level), width(level), size(level), True))
        cin = width(level)
    specs.append(LayerSpec("head", "conv1x1", cin, 1, cfg.input_size, False))
    return specs


class ConvBNAct(nn.Module):
    """One weighted layer: [2x nearest upsample] -> conv -> BatchNorm -> ReLU with its activation quantizer."""

    def __init__(self, spec: LayerSpec, cfg: ModelConfig):
        super().__init__()
        self.spec = spec
        cin, cout = spec.in_channels, spec.out_channels
        if cfg.quantized:
            wq = quantizers.weight_quant(cfg)
            if spec.op == "convT2x2":
                self.conv = QuantConvTranspose2d(cin, cout, 2, stride=2, bias=False, weight_quant=wq)
            else:
                self.conv = QuantConv2d(cin, cout, spec.kernel, padding=spec.kernel // 2, bias=False, weight_quant=wq)
            self.act = QuantReLU(act_quant=quantizers.act_quant(cfg), return_quant_tensor=True)
        else:
            if spec.op == "convT2x2":
                self.conv = nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)
            else:
                self.conv = nn.Conv2d(cin, cout, spec.kernel, padding=spec.kernel // 2, bias=False)
            self.act = nn.ReLU()
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        if self.spec.op == "upsample_conv3x3":
            x = F.interpolate(plain(x), scale_factor=2, mode="nearest")
        return self.act(self.bn(self.conv(x)))


class QuantUNet(nn.Module):
    """Input: images in [0, 1) shaped [N, C, H, W] (8-bit pixels / 256). Output: logits [N, 1, H, W]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.specs = layer_specs(cfg)
        self.input_quant = (QuantIdentity(act_quant=quantizers.input_quant(cfg), return_quant_tensor=True)
                            if cfg.quantized else nn.Identity())
        head = self.specs[-1]
        self.layers = nn.ModuleDict({s.name: ConvBNAct(s, cfg) for s in self.specs[:-1]})
        if cfg.quantized:
            self.head = QuantConv2d(head.in_channels, 1, 1, bias=True,
                                    weight_quant=quantizers.weight_quant(cfg),
                                    bias_quant=quantizers.head_bias_quant(cfg))
        else:
            self.head = nn.Conv2d(head.in_channels, 1, 1, bias=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        layers = self.layers
        x = self.input_quant(images)
        skips = []
        for level in range(1, self.cfg.depth + 1):
            x = layers[f"enc{level}_conv2"](layers[f"enc{level}_conv1"](x))
            skips.append(x)
            x = F.max_pool2d(plain(x), 2)  # max of fixed-point codes: exact, no requantisation
        x = layers["bottleneck_conv2"](layers["bottleneck_conv1"](x))
        for level in range(self.cfg.depth, 0, -1):
            x = layers[f"up{level}"](x)
            x = torch.cat([plain(x), plain(skips[level - 1])], dim=1)
            x = layers[f"dec{level}_conv2"](layers[f"dec{level}_conv1"](x))
        return plain(self.head(x))

    # ---- learned bitwidths -------------------------------------------------------------------

    def weight_module(self, name: str) -> nn.Module:
        return self.head if name == "head" else self.layers[name].conv

    def bit_quantizers(self) -> list[tuple[str, str, nn.Module, int]]:
        """(layer, "weight" | "act", Brevitas proxy, element count) for every learned bitwidth."""
        if not self.cfg.quantized:
            return []
        out = []
        for spec in self.specs:
            out.append((spec.name, "weight", self.weight_module(spec.name).weight_quant, spec.params))
            if spec.has_act:
                out.append((spec.name, "act", self.layers[spec.name].act.act_quant, spec.out_elements))
        return out

    def bit_widths(self) -> torch.Tensor:
        """Differentiable (straight-through rounded) bitwidths, in bit_quantizers() order."""
        return torch.stack([proxy.bit_width() for _, _, proxy, _ in self.bit_quantizers()])

    def continuous_bit_widths(self) -> torch.Tensor:
        """The learned bitwidths before rounding (clamped to the allowed range), in bit_quantizers()
        order: what a smooth function of the widths (the hardware-cost loss) differentiates.
        Rounding them gives bit_widths()."""
        from brevitas.core.bit_width import BitWidthParameter
        from brevitas.function import abs_binary_sign_grad

        out = []
        for layer, kind, proxy, _ in self.bit_quantizers():
            impls = [m for m in proxy.modules() if isinstance(m, BitWidthParameter)]
            if len(impls) != 1:
                raise TypeError(f"layer {layer}: expected one learned {kind} bitwidth, found {len(impls)}")
            raw = abs_binary_sign_grad(impls[0].bit_width_offset) + impls[0].bit_width_base
            out.append(torch.clamp(raw, float(self.cfg.min_bits), float(self.cfg.max_bits)))
        return torch.stack(out)

    def bit_table(self) -> list[dict]:
        """Per weighted layer: effective (rounded) weight and activation bits and parameter count."""
        bits: dict[tuple[str, str], int] = {}
        if self.cfg.quantized:
            with torch.no_grad():
                for (layer, kind, _, _), b in zip(self.bit_quantizers(), self.bit_widths().tolist()):
                    bits[(layer, kind)] = int(round(b))
        rows = []
        for spec in self.specs:
            rows.append({
                "name": spec.name,
                "op": spec.op,
                "weight_bits": bits.get((spec.name, "weight"), 32),
                "act_bits": bits.get((spec.name, "act"), 32) if spec.has_act else None,
                "params": spec.params,
                "activations": spec.out_elements,
            })
        return rows

    def bit_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.endswith("bit_width_offset")]

    def other_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.endswith("bit_width_offset")]


def build_model(cfg: ModelConfig) -> QuantUNet:
    return QuantUNet(cfg)
