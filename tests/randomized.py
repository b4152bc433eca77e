"""Tiny QuantU-Nets with random weights, bitwidths and BatchNorm, for property tests."""
from __future__ import annotations

import numpy as np
import torch

from quantunet.config import get_preset
from quantunet.data import load_split
from quantunet.model import build_model


def randomised_tiny(seed: int, bits: list[int] | None = None):
    """(model in eval mode, the 45 bitwidths chosen): random weights, bitwidths in [2, 8], BatchNorm
    with random gammas of both signs. Activation ranges are learned from a few training-mode passes."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(get_preset("tiny").model)
    model.train()
    x = torch.as_tensor(load_split("phantom", "train", size=32, channels=1, n_train=8, seed=seed).images) / 256
    with torch.no_grad():
        for _ in range(6):   # past the activation-statistics phase: learned power-of-two ranges
            model(x)
        params = model.bit_parameters()
        chosen = bits or rng.integers(2, 9, len(params)).tolist()
        for p, b in zip(params, chosen):
            p.fill_(float(b - 2))
        for block in model.layers.values():
            c = block.bn.num_features
            block.bn.weight.copy_(torch.tensor(rng.normal(0, 1, c) * rng.choice([1, -1], c), dtype=torch.float32))
            block.bn.bias.copy_(torch.tensor(rng.normal(0.1, 0.3, c), dtype=torch.float32))
    return model.eval(), chosen


def save_as_checkpoint(model, path):
    """A checkpoint of `model` whose validation split is a small phantom set."""
    from quantunet.checkpoint import save_checkpoint

    return save_checkpoint(path, model, data={"kind": "phantom", "spec": "phantom", "seed": 0,
                                              "n_train": 8, "n_val": 4})
