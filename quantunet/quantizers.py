"""Brevitas quantizers of QuantU-Net: power-of-two scales everywhere, learned bitwidths.

Power-of-two (fixed-point) scales are what make the network exactly representable in integer
hardware: every tensor is `code * 2**exponent`, so rescaling is a shift and BatchNorm + ReLU +
requantisation fold into integer thresholds (see codegen). Float scales would leave a float
multiplier in every layer and break the hls4ml flow on skip connections.

Learned bitwidths use `BitWidthImplType.PARAMETER`: Brevitas keeps a float offset over
`min_bit_width` and rounds it with a straight-through estimator. The attribute *must* be
`bit_width_impl_type` (a misspelt name is silently ignored and the width stays constant: the
"bitwidth never moves" reports, Brevitas #1156/#1177/#1372); `bit_width_offset_min_val` and
`bit_width_offset_max_val` (both needed, else Brevitas does not clamp) bound the rounded width.
"""
from __future__ import annotations

from brevitas.inject.enum import BitWidthImplType, ScalingImplType
from brevitas.quant import Int32Bias, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

from .config import ModelConfig


def _learned_bits(cfg: ModelConfig) -> dict:
    return dict(
        bit_width_impl_type=BitWidthImplType.PARAMETER,
        bit_width=cfg.init_bits,
        min_bit_width=cfg.min_bits,
        bit_width_offset_min_val=float(cfg.min_bits),
        bit_width_offset_max_val=float(cfg.max_bits),
    )


def weight_quant(cfg: ModelConfig):
    """Signed, narrow-range (symmetric) weights; scale = 2**ceil(log2(max|w|)) / 2**(bits-1)."""
    return Int8WeightPerTensorFixedPoint.let(**_learned_bits(cfg))


def act_quant(cfg: ModelConfig):
    """Unsigned activations after ReLU; the range (a power of two) and the bitwidth are both learned."""
    return Uint8ActPerTensorFixedPoint.let(
        **_learned_bits(cfg), collect_stats_steps=cfg.act_stats_steps)


def input_quant(cfg: ModelConfig):
    """Fixed unsigned input quantizer: range [0, 1), scale 2**-input_bits.

    Images are fed as `pixel / 256`, so with 8 input bits the input code is the 8-bit pixel itself.
    """
    return Uint8ActPerTensorFixedPoint.let(
        scaling_impl_type=ScalingImplType.CONST, scaling_init=1.0, bit_width=cfg.input_bits)


def head_bias_quant(cfg: ModelConfig):
    """Bias of the final 1x1 conv, in units of input_scale * weight_scale: an integer added to the accumulator."""
    return Int32Bias.let(bit_width=cfg.head_bias_bits)
