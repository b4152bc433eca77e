"""Exact folding of BatchNorm -> ReLU -> activation quantizer into per-channel integer thresholds.

The float path the model runs in inference is, per channel, a non-decreasing (gamma >= 0) or
non-increasing (gamma < 0) function of the integer accumulator `acc`: every step (multiplication by
the power-of-two scale, BatchNorm's affine map, ReLU, rounding, clamping) is monotone, IEEE rounding
included. So for each output code k there is a smallest accumulator T_k from which the code is at
least k. We find it by binary search over the accumulator range, evaluating the model's *own*
BatchNorm and quantizer modules in float32, so the thresholds reproduce its rounding ties exactly
instead of re-deriving them in another precision. An analytic float64 estimate only narrows the
search: it is verified against the modules, and any estimate that fails falls back to the full range.
"""
from __future__ import annotations

import numpy as np
import torch

FLOAT32_EXACT = 1 << 24   # integers up to this magnitude are exact in float32


def _codes(bn: torch.nn.Module, act: torch.nn.Module, acc: np.ndarray, acc_exp: int) -> np.ndarray:
    """Output codes of act(bn(acc * 2**acc_exp)) for acc shaped [C, M] (channel c through channel c)."""
    x = torch.from_numpy((acc.astype(np.float64) * 2.0 ** acc_exp).astype(np.float32))
    with torch.no_grad():
        y = act(bn(x[None, :, :, None]))
        codes = torch.round(y.value / y.scale) if hasattr(y, "value") else None
    if codes is None:
        raise TypeError("activation module must return a Brevitas QuantTensor")
    return codes[0, :, :, 0].numpy().astype(np.int64)


def _estimate(bn, act, sign: np.ndarray, k: np.ndarray, acc_exp: int) -> np.ndarray:
    """Float64 solution of code(acc) = k - 1/2 (the rounding boundary), in the searched domain."""
    scale = float(act.act_quant.scale())
    gamma = bn.weight.detach().double().numpy()[:, None]
    beta = bn.bias.detach().double().numpy()[:, None]
    mean = bn.running_mean.double().numpy()[:, None]
    std = np.sqrt(bn.running_var.double().numpy()[:, None] + bn.eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = ((k - 0.5) * scale - beta) * std / gamma + mean       # BatchNorm input at the boundary
        est = sign * x / 2.0 ** acc_exp
    return np.where(np.isfinite(est), np.ceil(est), 0).astype(np.int64)


def _narrow(bn, act, lo, hi, sign, k, acc_exp, margin: int = 2):
    """Shrink [lo, hi] to a few accumulators around the estimate wherever the model confirms it."""
    est = _estimate(bn, act, sign, k, acc_exp)
    a = np.clip(est - margin, lo, hi)
    b = np.clip(est + margin, lo, hi)
    below = (a == lo) | (_codes(bn, act, sign * a, acc_exp) < k)            # threshold is above a
    above = (b == hi) | (_codes(bn, act, sign * np.minimum(b, hi - 1), acc_exp) >= k) & (b < hi)
    ok = below & above
    return np.where(ok, a, lo), np.where(ok, b, hi)


def fold_thresholds(bn: torch.nn.Module, act: torch.nn.Module, acc_lo: np.ndarray, acc_hi: np.ndarray,
                    acc_exp: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds [C, levels] and the channels whose accumulator must be negated (decreasing maps).

    For a negated channel the thresholds apply to -acc; the caller negates that channel's weights.
    acc_lo/acc_hi are the per-channel accumulator bounds *before* negation.
    """
    bn.eval()
    act.eval()
    if max(np.abs(acc_lo).max(), np.abs(acc_hi).max()) >= FLOAT32_EXACT:
        raise ValueError("accumulator exceeds 2**24: the float model itself is no longer exact")
    negate = (bn.weight.detach().numpy() < 0)
    channels = len(acc_lo)
    # search space per channel in the (possibly negated) domain: [lo, hi + 1], hi + 1 = "never"
    lo_dom = np.where(negate, -acc_hi, acc_lo).astype(np.int64)
    hi_dom = np.where(negate, -acc_lo, acc_hi).astype(np.int64)
    sign = np.where(negate, -1, 1)[:, None]
    k = np.arange(1, levels + 1, dtype=np.int64)[None, :]
    lo = np.repeat(lo_dom[:, None], levels, axis=1)
    hi = np.repeat(hi_dom[:, None] + 1, levels, axis=1)
    lo, hi = _narrow(bn, act, lo, hi, sign, k, acc_exp)
    while np.any(lo < hi):
        mid = (lo + hi) // 2                              # < hi <= hi_dom + 1, so a real accumulator
        reached = _codes(bn, act, sign * mid, acc_exp) >= k
        active = lo < hi
        hi = np.where(active & reached, mid, hi)
        lo = np.where(active & ~reached, mid + 1, lo)
    thresholds = lo
    assert thresholds.shape == (channels, levels)
    return thresholds, negate
