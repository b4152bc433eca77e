"""Integer types of the IR: every tensor is `code * 2**exp` with `code` a (un)signed `bits`-wide integer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_BITS = 16          # learned bitwidths allowed by the IR (weights and activations)
MAX_ACC_BITS = 52      # the reference accumulates in float64, exact below 2**53


@dataclass(frozen=True)
class IntType:
    bits: int
    signed: bool
    exp: int = 0       # value = code * 2**exp

    def __post_init__(self):
        if self.bits < 1:
            raise ValueError(f"integer type needs at least 1 bit, got {self.bits}")

    @property
    def min_code(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def scale(self) -> float:
        return 2.0 ** self.exp

    def contains(self, codes: np.ndarray) -> bool:
        codes = np.asarray(codes)
        return codes.size == 0 or (int(codes.min()) >= self.min_code and int(codes.max()) <= self.max_code)

    @property
    def ctype(self) -> str:
        """The Vitis HLS arbitrary-precision integer holding the codes."""
        return f"ap_{'' if self.signed else 'u'}int<{self.bits}>"

    def describe(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}*2^{self.exp}"

    def to_dict(self) -> dict:
        return {"bits": self.bits, "signed": self.signed, "exp": self.exp}

    @classmethod
    def covering(cls, lo: int, hi: int, exp: int = 0, signed: bool | None = None) -> "IntType":
        """The narrowest type holding every integer in [lo, hi] (signed if lo < 0 unless forced)."""
        lo, hi = int(lo), int(hi)
        if signed is None:
            signed = lo < 0
        if not signed:
            if lo < 0:
                raise ValueError("an unsigned type cannot hold negative values")
            return cls(max(1, int(hi).bit_length()), False, exp)
        # signed: need -2**(b-1) <= lo and hi <= 2**(b-1) - 1
        need = max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length() if hi > 0 else 0) + 1
        return cls(need, True, exp)
