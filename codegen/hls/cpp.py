"""C++ naming and literal formatting shared by the kernel contexts (no template logic lives here)."""
from __future__ import annotations

import numpy as np


def code_type(tensor: str) -> str:
    """typedef name of a tensor's channel code type."""
    return f"{tensor}_t"


def pixel_type(tensor: str) -> str:
    """typedef name of a tensor's stream element: qgen::pixel<code type, channels>."""
    return f"{tensor}_pixel_t"


def store_type(dtype) -> str:
    """The smallest builtin C integer type holding every value of an IntType (for C-simulation storage)."""
    bits = dtype.bits + (0 if dtype.signed else 1)   # builtin types below are signed
    for width, name in ((8, "signed char"), (16, "short"), (32, "int"), (64, "long long")):
        if bits <= width:
            return name
    raise ValueError(f"{dtype.describe()} is wider than 64 bits")


def c_array(values: np.ndarray, per_line: int = 32) -> str:
    """A nested C initializer list for an integer array of any rank, e.g. {{1, -2}, {3, 4}}."""
    values = np.asarray(values)
    items = [str(v) for v in values.reshape(-1).tolist()]
    if values.ndim == 0:
        return items[0]
    inner = values.shape[-1]
    # innermost rows, wrapped every `per_line` numbers
    groups = ["{" + ",\n ".join(", ".join(items[i + j:i + min(j + per_line, inner)]) for j in range(0, inner, per_line))
              + "}" for i in range(0, len(items), inner)]
    for size in reversed(values.shape[:-1]):   # then every outer dimension
        groups = ["{" + ",\n".join(groups[i:i + size]) + "}" for i in range(0, len(groups), size)]
    return groups[0] if groups else "{}"


def mvau_layout(w2d: np.ndarray, pe: int, simd: int) -> np.ndarray:
    """[O, L] weights -> [NF*SF, PE, SIMD]: fold f = nf*SF + sf holds outputs nf*PE.. and inputs sf*SIMD.."""
    out_ch, length = w2d.shape
    nf, sf = out_ch // pe, length // simd
    return w2d.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe, simd)


def per_pe(values: np.ndarray, pe: int) -> np.ndarray:
    """[O, ...] -> [NF, PE, ...]: per-output-channel data in the order the PEs consume it."""
    return values.reshape(values.shape[0] // pe, pe, *values.shape[1:])
