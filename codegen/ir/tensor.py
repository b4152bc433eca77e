"""A tensor of the integer graph: shape, integer type, and the code range each channel can reach."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import IntType


@dataclass
class Tensor:
    name: str
    shape: tuple[int, int, int]      # (channels, height, width); the batch dimension is implicit
    dtype: IntType
    ch_min: np.ndarray               # per channel: smallest reachable code (int64 [C])
    ch_max: np.ndarray               # per channel: largest reachable code (int64 [C])

    @classmethod
    def full_range(cls, name: str, shape: tuple[int, int, int], dtype: IntType) -> "Tensor":
        channels = shape[0]
        return cls(name, shape, dtype, np.full(channels, dtype.min_code, np.int64),
                   np.full(channels, dtype.max_code, np.int64))

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def elements(self) -> int:
        c, h, w = self.shape
        return c * h * w

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "type": self.dtype.to_dict()}
