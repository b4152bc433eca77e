"""Training loss of QuantU-Net: BCE + Dice + lambda * bitwidth term.

Two bitwidth terms are offered:
- "mean": the plain mean of all learned bitwidths (weights and activations), as in the paper;
- "size": the mean weighted by how many values each quantizer governs (parameters for a weight
  quantizer, activations per image for an activation quantizer), so the term tracks memory and
  traffic rather than counting a 72-parameter layer as much as a 147k-parameter one.
Both are divided by the maximum allowed bitwidth, so the term lies in (0, 1] like BCE and Dice and
lambda means the same thing whatever the bit range.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

BIT_LOSS_MODES = ("mean", "size")


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice over the whole batch (pooled, so empty slices do not dominate)."""
    prob = torch.sigmoid(logits)
    intersection = (prob * target).sum()
    return 1.0 - (2.0 * intersection + smooth) / (prob.sum() + target.sum() + smooth)


def bit_loss(model, mode: str = "mean") -> torch.Tensor:
    if mode not in BIT_LOSS_MODES:
        raise ValueError(f"bit loss mode must be one of {BIT_LOSS_MODES}, got {mode!r}")
    quantizers = model.bit_quantizers()
    if not quantizers:
        return torch.zeros(())
    bits = model.bit_widths() / model.cfg.max_bits
    if mode == "mean":
        return bits.mean()
    counts = torch.tensor([float(n) for *_, n in quantizers])
    return (bits * counts).sum() / counts.sum()


class QuantUNetLoss:
    def __init__(self, lambda_bits: float = 0.25, bit_mode: str = "mean"):
        if lambda_bits < 0:
            raise ValueError("lambda_bits must be >= 0")
        self.lambda_bits = lambda_bits
        self.bit_mode = bit_mode

    def __call__(self, logits, target, model) -> tuple[torch.Tensor, dict[str, float]]:
        bce = F.binary_cross_entropy_with_logits(logits, target)
        dice = soft_dice_loss(logits, target)
        bits = bit_loss(model, self.bit_mode)
        total = bce + dice + self.lambda_bits * bits
        return total, {"loss": total.item(), "bce": bce.item(), "dice_loss": dice.item(), "bit_loss": bits.item()}
