"""Segmentation metrics and model-size accounting.

Masks are `logits > 0` (identical to sigmoid > 0.5, and what the hardware computes). Dice and IoU
are pooled over the whole set (sum of intersections over sum of areas), the usual choice for
tumour segmentation where many slices have no tumour; pixel accuracy is over all pixels.
"""
from __future__ import annotations

import math

import numpy as np
import torch


class ConfusionCounts:
    def __init__(self):
        self.tp = self.fp = self.fn = self.tn = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        pred = pred.astype(bool)
        target = target.astype(bool)
        self.tp += int(np.count_nonzero(pred & target))
        self.fp += int(np.count_nonzero(pred & ~target))
        self.fn += int(np.count_nonzero(~pred & target))
        self.tn += int(np.count_nonzero(~pred & ~target))

    def summary(self) -> dict[str, float]:
        total = self.tp + self.fp + self.fn + self.tn
        union = self.tp + self.fp + self.fn
        return {
            "pixel_accuracy": (self.tp + self.tn) / total if total else math.nan,
            # no tumour predicted and none present: a perfect score, by convention
            "dice": 2 * self.tp / (2 * self.tp + self.fp + self.fn) if union else 1.0,
            "iou": self.tp / union if union else 1.0,
        }


def images_to_input(images_u8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """8-bit pixels -> network input in [0, 1): pixel / 256 (so an 8-bit input code is the pixel)."""
    t = torch.as_tensor(images_u8)
    return t.to(torch.float32) / 256.0


@torch.no_grad()
def predict_masks(model, images_u8: np.ndarray, batch_size: int = 16) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    masks = []
    for start in range(0, len(images_u8), batch_size):
        logits = model(images_to_input(images_u8[start:start + batch_size]).to(device))
        masks.append((logits[:, 0] > 0).cpu().numpy().astype(np.uint8))
    return np.concatenate(masks) if masks else np.zeros((0,), np.uint8)


def evaluate(model, dataset, batch_size: int = 16) -> dict[str, float]:
    counts = ConfusionCounts()
    counts.update(predict_masks(model, dataset.images, batch_size), dataset.masks)
    return counts.summary()


def size_report(model) -> dict:
    """Bytes of the model at its learned bitwidths vs float32, and average bitwidths.

    Weights count at their learned bitwidth, packed; BatchNorm and bias parameters are kept at
    32 bits in both sizes (the hardware folds BatchNorm into integer thresholds instead, whose
    size codegen reports per layer).
    """
    table = model.bit_table()
    all_params = sum(p.numel() for n, p in model.named_parameters() if not n.endswith("bit_width_offset")
                     and "scaling_impl" not in n)
    weight_params = sum(row["params"] for row in table)
    weight_bits = sum(row["params"] * row["weight_bits"] for row in table)
    other_params = all_params - weight_params
    quantizers = model.bit_quantizers()
    if quantizers:
        bits = [int(round(b)) for b in model.bit_widths().detach().tolist()]
        counts = [n for *_, n in quantizers]
        avg_bits = sum(bits) / len(bits)
        avg_weighted = sum(b * n for b, n in zip(bits, counts)) / sum(counts)
        w_bits = [b for b, (_, kind, _, _) in zip(bits, quantizers) if kind == "weight"]
        a_bits = [b for b, (_, kind, _, _) in zip(bits, quantizers) if kind == "act"]
        avg_weight_bits, avg_act_bits = sum(w_bits) / len(w_bits), sum(a_bits) / len(a_bits)
    else:
        avg_bits = avg_weighted = avg_weight_bits = avg_act_bits = 32.0
    size_bytes = math.ceil(weight_bits / 8) + 4 * other_params
    float_size = 4 * all_params
    return {
        "avg_bits": avg_bits,
        "avg_bits_weighted": avg_weighted,
        "avg_weight_bits": avg_weight_bits,
        "avg_act_bits": avg_act_bits,
        "size_bytes": size_bytes,
        "float_size_bytes": float_size,
        "size_ratio": float_size / size_bytes,
        "params": all_params,
    }
