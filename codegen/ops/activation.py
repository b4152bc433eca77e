"""Multi-threshold activation: BatchNorm + ReLU + requantisation folded into integer thresholds.

For an output channel c with thresholds T[c, 0..L-1] (ascending, L = 2**bits - 1), the output code
is the number of thresholds the accumulator reaches: q = #{k : acc >= T[c, k]} (FINN's
MultiThreshold). Any non-decreasing map from accumulator to code has this form, so the fold is exact;
channels whose map is decreasing (negative BatchNorm gamma) have their weights negated by the
frontend, which is exact because weights are narrow-range symmetric.

Hardware finds q by binary search: the sorted thresholds form a complete binary search tree, one
comparison per output bit (`tree_levels`). That costs `bits` comparators per output instead of the
2**bits - 1 of a parallel comparison (FINN's binary-search thresholding makes the same trade).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.types import IntType


@dataclass(eq=False)
class Thresholds:
    values: np.ndarray     # int64 [C, L], each row ascending
    out_type: IntType      # unsigned, `bits` = log2(L + 1)

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.int64)
        levels = self.values.shape[1]
        if levels != (1 << self.out_type.bits) - 1:
            raise ValueError(f"{levels} thresholds do not match a {self.out_type.bits}-bit output")
        if levels and np.any(np.diff(self.values, axis=1) < 0):
            raise ValueError("thresholds must be ascending per channel")

    @property
    def dtype(self) -> IntType:
        """The narrowest signed type holding every threshold."""
        return IntType.covering(min(int(self.values.min()), -1), max(int(self.values.max()), 0), signed=True)

    def apply(self, acc: np.ndarray) -> np.ndarray:
        """acc: int64 [N, C, H, W] -> codes of out_type."""
        out = np.empty_like(acc)
        for c in range(acc.shape[1]):
            out[:, c] = np.searchsorted(self.values[c], acc[:, c], side="right")
        return out

    def code_range(self, acc_lo: np.ndarray, acc_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel smallest/largest output code for accumulators within [acc_lo, acc_hi]."""
        lo = np.array([np.searchsorted(t, a, side="right") for t, a in zip(self.values, acc_lo)], np.int64)
        hi = np.array([np.searchsorted(t, a, side="right") for t, a in zip(self.values, acc_hi)], np.int64)
        return lo, hi

    def tree_levels(self) -> list[np.ndarray]:
        """Level s of the search tree, [C, 2**s]: node j holds threshold (2j+1) * 2**(bits-1-s) - 1.

        Searching: code = 0; for each level, code = 2 * code + (acc >= level[c, code]); the final
        code is the number of thresholds reached.
        """
        bits = self.out_type.bits
        return [self.values[:, (2 * np.arange(2 ** s) + 1) * 2 ** (bits - 1 - s) - 1] for s in range(bits)]

    def search(self, acc: np.ndarray) -> np.ndarray:
        """The hardware's binary search (same result as apply), for checking the tree layout."""
        levels = self.tree_levels()
        code = np.zeros_like(acc)
        channel = np.arange(acc.shape[1])[None, :, None, None]
        for level in levels:
            code = 2 * code + (acc >= level[channel, code]).astype(acc.dtype)
        return code
