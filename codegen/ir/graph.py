"""The integer graph of a QuantU-Net: ops in execution order over typed tensors."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..ops import Op
from .tensor import Tensor
from .types import IntType


@dataclass
class InputQuant:
    """Host-side quantisation of the float image to the graph's input codes (unsigned, exponent exp)."""
    dtype: IntType

    def quantize(self, images: np.ndarray) -> np.ndarray:
        """images: float [N, C, H, W] -> int64 codes: clamp(round_half_even(x / 2**exp), 0, max)."""
        scaled = np.asarray(images, dtype=np.float32) / np.float32(self.dtype.scale)  # exact: power of two
        return np.clip(np.round(scaled), self.dtype.min_code, self.dtype.max_code).astype(np.int64)


@dataclass
class Graph:
    name: str
    input_quant: InputQuant
    input: Tensor
    ops: list[Op] = field(default_factory=list)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        # the name is written into C++, TCL and folder names (checkpoints derive a safe one)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", self.name):
            raise ValueError(f"graph name {self.name[:40]!r} is not a C identifier")
        self.tensors.setdefault(self.input.name, self.input)

    def add(self, op: Op) -> Tensor:
        """Append an op, inferring (and checking) its output tensor."""
        for name in op.inputs:
            if name not in self.tensors:
                raise ValueError(f"op {op.name}: unknown input tensor {name!r}")
        if op.output in self.tensors:
            raise ValueError(f"op {op.name}: tensor {op.output!r} already exists")
        out = op.infer([self.tensors[n] for n in op.inputs])
        self.tensors[out.name] = out
        self.ops.append(op)
        return out

    def op(self, name: str) -> Op:
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(name)

    @property
    def weighted_ops(self) -> list[Op]:
        return [op for op in self.ops if op.weighted]

    def layer_table(self) -> list[dict]:
        return [op.summary([self.tensors[n] for n in op.inputs], self.tensors[op.output]) for op in self.ops]

    def run(self, input_codes: np.ndarray) -> dict[str, np.ndarray]:
        """The integer reference: every tensor's codes, int64 [N, C, H, W], for a batch of input codes."""
        if input_codes.shape[1:] != self.input.shape:
            raise ValueError(f"input codes shaped {input_codes.shape[1:]}, graph expects {self.input.shape}")
        if not self.input.dtype.contains(input_codes):
            raise ValueError(f"input codes outside {self.input.dtype.describe()}")
        values = {self.input.name: np.asarray(input_codes, dtype=np.int64)}
        for op in self.ops:
            values[op.output] = op.reference(*(values[n] for n in op.inputs))
        return values
