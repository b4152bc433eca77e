"""QuantU-Nets with random weights, bitwidths and BatchNorm, for property tests and the fuzz bench.

`randomised_tiny(seed)` is the tests' classic recipe (the `tiny` preset, random bitwidths in 2..8,
BatchNorm gammas of both signs). `random_variant(seed)` draws from a wider family for the fuzz
bench (bench/fuzz.py): other base widths, depths, input sizes and channels, nearest up-sampling,
bitwidth patterns at the range ends, and constant or dead channels (gamma 0), the cases where the
integer ranges of a layer's inputs do not contain 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from quantunet.config import get_preset
from quantunet.data import load_split
from quantunet.model import build_model

BIT_PATTERNS = ("random", "all2", "all8", "alternating", "random")


@dataclass(frozen=True)
class Variant:
    """What one random model was drawn with (recorded by the fuzz bench for reproduction)."""
    seed: int
    base_width: int = 4
    depth: int = 4
    input_size: int = 32
    in_channels: int = 1
    upsample: str = "transpose"
    bits: str = "random"                 # random | all2 | all8 | alternating
    special_channels: float = 0.0        # fraction of channels made constant (gamma 0, any beta)
    gamma_scale: float = 1.0

    def describe(self) -> str:
        return (f"seed {self.seed}: base {self.base_width}, depth {self.depth}, {self.in_channels}x"
                f"{self.input_size}x{self.input_size}, {self.upsample}, bits {self.bits}, "
                f"constant channels {self.special_channels:.0%}, gamma x{self.gamma_scale:g}")


def draw_variant(seed: int) -> Variant:
    """A random point of the fuzz family; the same seed always gives the same variant."""
    rng = np.random.default_rng(seed ^ 0x5EED)
    depth = int(rng.choice([1, 2, 3, 4]))
    size = int(rng.choice([16, 32])) if depth <= 4 else 32
    return Variant(
        seed=seed,
        base_width=int(rng.choice([2, 3, 4, 4, 6])),
        depth=depth,
        input_size=size,
        in_channels=int(rng.choice([1, 1, 1, 3])),
        upsample=str(rng.choice(["transpose", "nearest"])),
        bits=str(rng.choice(BIT_PATTERNS)),
        special_channels=float(rng.choice([0.0, 0.0, 0.25, 0.5])),
        gamma_scale=float(rng.choice([1.0, 1.0, 0.05, 8.0])),
    )


def _bits_for(pattern: str, count: int, rng) -> list[int]:
    if pattern == "all2":
        return [2] * count
    if pattern == "all8":
        return [8] * count
    if pattern == "alternating":
        return [2 if i % 2 else 8 for i in range(count)]
    return rng.integers(2, 9, count).tolist()


def random_model(variant: Variant, bits: list[int] | None = None):
    """(model in eval mode, the bitwidths chosen) for a variant. Activation ranges are learned from
    a few training-mode passes over phantom slices, as the first steps of training would."""
    torch.manual_seed(variant.seed)
    rng = np.random.default_rng(variant.seed)
    cfg = get_preset("tiny").model.replace(base_width=variant.base_width, depth=variant.depth,
                                           input_size=variant.input_size, in_channels=variant.in_channels,
                                           upsample=variant.upsample)
    model = build_model(cfg)
    model.train()
    x = torch.as_tensor(load_split("phantom", "train", size=cfg.input_size, channels=cfg.in_channels,
                                   n_train=8, seed=variant.seed).images) / 256
    with torch.no_grad():
        for _ in range(6):   # past the activation-statistics phase: learned power-of-two ranges
            model(x)
        params = model.bit_parameters()
        chosen = bits or _bits_for(variant.bits, len(params), rng)
        for p, b in zip(params, chosen):
            p.fill_(float(b - 2))
        for block in model.layers.values():
            c = block.bn.num_features
            gamma = rng.normal(0, 1, c) * rng.choice([1, -1], c) * variant.gamma_scale
            beta = rng.normal(0.1, 0.3, c)
            if variant.special_channels:   # (no extra draws otherwise: the classic recipe stays as it was)
                special = rng.random(c) < variant.special_channels
                gamma[special] = 0.0                       # constant channel: its code is fixed by beta
                beta[special] = rng.choice([-1.0, 0.2, 1.0, 5.0], int(special.sum()))  # dead, or above 0
            block.bn.weight.copy_(torch.tensor(gamma, dtype=torch.float32))
            block.bn.bias.copy_(torch.tensor(beta, dtype=torch.float32))
    return model.eval(), chosen


def randomised_tiny(seed: int, bits: list[int] | None = None):
    """(model in eval mode, the 45 bitwidths chosen): the tiny preset with random weights, bitwidths
    in [2, 8] and BatchNorm gammas of both signs."""
    return random_model(Variant(seed), bits)


def save_as_checkpoint(model, path, name: str | None = None):
    """A checkpoint of `model` whose validation split is a small phantom set."""
    from quantunet.checkpoint import save_checkpoint

    return save_checkpoint(path, model, name=name, data={"kind": "phantom", "spec": "phantom", "seed": 0,
                                                         "n_train": 8, "n_val": 4})


def random_folding(graph, seed: int):
    """A random valid folding of every weighted layer: PE and SIMD random divisors, with the corners
    drawn often (fully parallel, NF * SF = 1, where loop-carried distances are shortest; fully
    folded), and a random multiplier type among those the layer may use (dsp2 where PEs pair up).
    Half the time the head is folded to run inside the conv before it (its SIMD = that conv's PE:
    codegen/resources/fit.py fused_weighted), else it keeps its draw, mostly a kernel of its own."""
    from codegen.hls.folding import Folding, LayerFold, divisors, mult_choices
    from codegen.resources.fit import fused_weighted

    rng = np.random.default_rng(seed ^ 0xF01D)
    folding = Folding()
    for op in graph.weighted_ops:
        out_ch, window = op.fold_dims()
        corner = rng.choice(["parallel", "folded", "random", "random"])
        if corner == "parallel":
            pe, simd = out_ch, window
        elif corner == "folded":
            pe, simd = 1, 1
        else:
            pe, simd = int(rng.choice(divisors(out_ch))), int(rng.choice(divisors(window)))
        folding[op.name] = LayerFold(int(pe), int(simd), str(rng.choice(["auto", *mult_choices(op, graph, pe)])))
    for host, op in fused_weighted(graph).items():
        if rng.random() < 0.5:
            folding[op.name] = op.fused_fold(folding[host], str(rng.choice(["auto", "lut", "dsp"])))
    return folding
