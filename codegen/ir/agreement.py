"""Does the integer reference compute what the Brevitas model computes?

Runs both on the same images and compares, at every activation quantizer, the model's output codes
with the reference's, plus the head's logits (as integers at the accumulator exponent) and the
final mask. Only exact float ties could make them differ; the count is reported, never hidden.
"""
from __future__ import annotations

import numpy as np
import torch

from quantunet.metrics import images_to_input

from .graph import Graph


def model_codes(model, images: torch.Tensor, logit_exp: int) -> dict[str, np.ndarray]:
    """Codes at every activation quantizer, the head's integer logits and the mask, from Brevitas."""
    captured: dict[str, np.ndarray] = {}
    hooks = [block.act.register_forward_hook(
        lambda _m, _i, out, name=name: captured.__setitem__(name, out.int().to(torch.int64).numpy()))
        for name, block in model.layers.items()]
    try:
        with torch.no_grad():
            logits = model(images).to(torch.float64).numpy()
    finally:
        for h in hooks:
            h.remove()
    int_logits = logits / 2.0 ** logit_exp
    if not np.array_equal(int_logits, np.round(int_logits)):
        raise ValueError("model logits are not on the accumulator grid")
    captured["head"] = int_logits.astype(np.int64)
    captured["mask"] = (logits > 0).astype(np.int64)
    return captured


def compare(graph: Graph, model, images_u8: np.ndarray, batch_size: int = 8) -> dict:
    """{"elements", "mismatches", "mask_identical", "layers": [{"name", "elements", "mismatches"}]}."""
    head, mask = graph.outputs
    logit_exp = graph.tensors[head].dtype.exp
    per_layer: dict[str, list[int]] = {}
    model.eval()
    for start in range(0, len(images_u8), batch_size):
        x = images_to_input(images_u8[start:start + batch_size])
        expected = model_codes(model, x, logit_exp)
        got = graph.run(graph.input_quant.quantize(x.numpy()))
        for name, codes in expected.items():
            counts = per_layer.setdefault(name, [0, 0])
            counts[0] += codes.size
            counts[1] += int(np.count_nonzero(codes != got[name]))
    layers = [{"name": n, "elements": e, "mismatches": m} for n, (e, m) in per_layer.items()]
    return {
        "images": int(len(images_u8)),
        "elements": sum(r["elements"] for r in layers),
        "mismatches": sum(r["mismatches"] for r in layers),
        "mask_identical": per_layer.get("mask", [0, 0])[1] == 0,
        "layers": layers,
    }
