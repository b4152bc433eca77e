"""Training loss of QuantU-Net: BCE + Dice + lambda * bitwidth term.

Two bitwidth terms are offered:
- "mean": the plain mean of all learned bitwidths (weights and activations), as in the paper;
- "size": the mean weighted by how many values each quantizer governs (parameters for a weight
  quantizer, activations per image for an activation quantizer), so the term tracks memory and
  traffic rather than counting a 72-parameter layer as much as a 147k-parameter one.
Both are divided by the maximum allowed bitwidth, so the term lies in (0, 1] like BCE and Dice and
lambda means the same thing whatever the bit range.
- "cost": the estimated hardware cost of the design the model becomes (LUT-equivalents of the
  per-op cost models, relative to all widths at the maximum, also in (0, 1]). It needs a hardware
  objective, which codegen provides (codegen/objective/hardware.py; `qgen train --bit-loss cost`).

A hardware objective may also add a fit hinge (`qgen train --part`): zero while the design fits the
part, growing with the overshoot, weighted by `fit_weight`.
"""
from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

BIT_LOSS_MODES = ("mean", "size", "cost")


class HardwareObjective(Protocol):
    """What the loss needs of a hardware estimator (codegen.objective.hardware implements it)."""
    enforce_fit: bool
    refresh_steps: int

    def refresh(self, model) -> dict: ...      # estimated figures of the current rounded widths
    def cost(self, model) -> torch.Tensor: ...  # in (0, 1], differentiable in the continuous widths
    def hinge(self, model) -> torch.Tensor: ... # >= 0, zero while the design fits


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 - soft Dice over the whole batch (pooled, so empty slices do not dominate)."""
    prob = torch.sigmoid(logits)
    intersection = (prob * target).sum()
    return 1.0 - (2.0 * intersection + smooth) / (prob.sum() + target.sum() + smooth)


def bit_loss(model, mode: str = "mean") -> torch.Tensor:
    if mode not in ("mean", "size"):
        raise ValueError(f"bit loss mode must be 'mean' or 'size' here, got {mode!r}")
    quantizers = model.bit_quantizers()
    if not quantizers:
        return torch.zeros(())
    bits = model.bit_widths() / model.cfg.max_bits
    if mode == "mean":
        return bits.mean()
    counts = torch.tensor([float(n) for *_, n in quantizers])
    return (bits * counts).sum() / counts.sum()


class QuantUNetLoss:
    def __init__(self, lambda_bits: float = 0.25, bit_mode: str = "mean",
                 hardware: HardwareObjective | None = None, fit_weight: float = 1.0):
        if lambda_bits < 0 or fit_weight < 0:
            raise ValueError("lambda_bits and fit_weight must be >= 0")
        if bit_mode not in BIT_LOSS_MODES:
            raise ValueError(f"bit loss mode must be one of {BIT_LOSS_MODES}, got {bit_mode!r}")
        if bit_mode == "cost" and hardware is None:
            raise ValueError("the cost bit loss needs a hardware objective (qgen train --bit-loss cost provides one)")
        self.lambda_bits, self.bit_mode = lambda_bits, bit_mode
        self.hardware, self.fit_weight = hardware, fit_weight

    def __call__(self, logits, target, model) -> tuple[torch.Tensor, dict[str, float]]:
        bce = F.binary_cross_entropy_with_logits(logits, target)
        dice = soft_dice_loss(logits, target)
        on = dict(device=logits.device, dtype=logits.dtype)
        if self.bit_mode == "cost":
            bits = self.hardware.cost(model).to(**on)
        else:
            bits = bit_loss(model, self.bit_mode).to(**on)
        total = bce + dice + self.lambda_bits * bits
        parts = {"bce": bce.item(), "dice_loss": dice.item(), "bit_loss": bits.item()}
        if self.hardware is not None and self.hardware.enforce_fit:
            hinge = self.hardware.hinge(model).to(**on)
            total = total + self.fit_weight * hinge
            parts["fit_hinge"] = hinge.item()
        return total, {"loss": total.item(), **parts}
