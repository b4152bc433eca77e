"""The integer graph as plain data (a JSON document and integer arrays) and back, for qgen's cache.

Ops are stored as their dataclass fields and rebuilt through `Graph.add`, so everything derived
(tensor types, per-channel code ranges, accumulator widths, concat shifts) is inferred again by
the same code as at lowering. What comes back from disk is input like any other: arrays must be
integers (loaded without pickles), every op type registered, every field one the op declares, and
the rebuilt tensors must match the summary stored with them; anything else is a StoreError.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from ..ops import OPS
from ..ops.activation import Thresholds
from .graph import Graph, InputQuant
from .tensor import Tensor
from .types import IntType

FORMAT = "qgen-graph"
VERSION = 1
MAX_ARRAY_ELEMENTS = 1 << 28


class StoreError(ValueError):
    """The graph cannot be written as plain data, or what was read is not a stored graph."""


# ---- to plain data ------------------------------------------------------------------------------

def _narrowest(value: np.ndarray):
    lo, hi = (int(value.min()), int(value.max())) if value.size else (0, 0)
    return next(t for t in (np.int8, np.int16, np.int32, np.int64)
                if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max)


class _Writer:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value) -> dict:
        value = np.asarray(value)
        if value.dtype.kind not in "iub":
            raise StoreError(f"array of {value.dtype} cannot be stored")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = value.astype(_narrowest(value))      # codes are small: int8 mostly
        return {"$array": name}

    def value(self, value):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, IntType):
            return {"$int_type": [value.bits, value.signed, value.exp]}
        if isinstance(value, Thresholds):
            return {"$thresholds": {"values": self.array(value.values), "out_type": self.value(value.out_type)}}
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, np.integer)) for v in value):
            return [v if isinstance(v, str) else int(v) for v in value]
        raise StoreError(f"a value of type {type(value).__name__} cannot be stored")


def _tensor_summary(graph: Graph) -> dict:
    """What the rebuilt graph must reproduce: every tensor's shape, type and channel ranges, and
    every weighted op's accumulator."""
    def digest(t: Tensor) -> str:
        return hashlib.sha256(np.asarray(t.ch_min, np.int64).tobytes() + b"|" +
                              np.asarray(t.ch_max, np.int64).tobytes()).hexdigest()[:32]

    return {"tensors": {n: [list(t.shape), t.dtype.to_dict(), digest(t)] for n, t in graph.tensors.items()},
            "accumulators": {op.name: op.acc_type.to_dict() for op in graph.weighted_ops}}


def graph_to_data(graph: Graph) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON document, arrays) for `graph`; StoreError if some op holds a value of unknown kind."""
    w = _Writer()
    ops = []
    for op in graph.ops:
        fields = {f.name: w.value(getattr(op, f.name)) for f in dataclasses.fields(op) if f.init}
        ops.append({"type": op.op_type, "fields": fields})
    x = graph.input
    doc = {
        "format": FORMAT, "version": VERSION, "name": graph.name,
        "input_quant": w.value(graph.input_quant.dtype),
        "input": {"name": x.name, "shape": list(x.shape), "dtype": w.value(x.dtype),
                  "ch_min": w.array(x.ch_min), "ch_max": w.array(x.ch_max)},
        "ops": ops, "outputs": list(graph.outputs), "meta": graph.meta, "summary": _tensor_summary(graph),
    }
    try:
        json.dumps(doc)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"graph metadata is not plain JSON: {exc}") from None
    return doc, w.arrays


# ---- from plain data ----------------------------------------------------------------------------

class _Reader:
    def __init__(self, arrays):
        self.arrays = arrays

    def array(self, ref) -> np.ndarray:
        if not isinstance(ref, dict) or set(ref) != {"$array"} or ref["$array"] not in self.arrays:
            raise StoreError("array reference missing")
        value = self.arrays[ref["$array"]]
        if value.dtype.kind != "i" or value.size > MAX_ARRAY_ELEMENTS or value.ndim > 4:
            raise StoreError("stored array is not a small integer array")
        return value.astype(np.int64)

    def int_type(self, ref) -> IntType:
        if not isinstance(ref, dict) or set(ref) != {"$int_type"}:
            raise StoreError("integer type missing")
        bits, signed, exp = _triple(ref["$int_type"])
        return IntType(bits, signed, exp)

    def value(self, value):
        if value is None or isinstance(value, (bool, str, int)):
            return value
        if isinstance(value, list):
            if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
                raise StoreError("lists hold only names and integers")
            return list(value)
        if isinstance(value, dict) and len(value) == 1:
            tag = next(iter(value))
            if tag == "$array":
                return self.array(value)
            if tag == "$int_type":
                return self.int_type(value)
            if tag == "$thresholds" and isinstance(value[tag], dict) and set(value[tag]) == {"values", "out_type"}:
                return Thresholds(self.array(value[tag]["values"]), self.int_type(value[tag]["out_type"]))
        raise StoreError("unknown stored value")


def _triple(value) -> tuple[int, bool, int]:
    if (not isinstance(value, list) or len(value) != 3 or isinstance(value[0], bool) or not isinstance(value[0], int)
            or not isinstance(value[1], bool) or isinstance(value[2], bool) or not isinstance(value[2], int)
            or not 1 <= value[0] <= 64 or not -256 <= value[2] <= 256):
        raise StoreError("bad integer type")
    return value[0], value[1], value[2]


def graph_from_data(doc, arrays: dict[str, np.ndarray]) -> Graph:
    """The graph stored by `graph_to_data`, rebuilt and checked; StoreError if it is not one."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise StoreError("not a stored qgen graph")
    r = _Reader(arrays)
    try:
        x = doc["input"]
        shape = tuple(x["shape"])
        if len(shape) != 3 or not all(isinstance(n, int) and 0 < n <= 1 << 16 for n in shape):
            raise StoreError("bad input shape")
        input_tensor = Tensor(x["name"], shape, r.int_type(x["dtype"]), r.array(x["ch_min"]), r.array(x["ch_max"]))
        if not isinstance(doc["meta"], dict) or not isinstance(doc["outputs"], list):
            raise StoreError("bad graph fields")
        graph = Graph(doc["name"], InputQuant(r.int_type(doc["input_quant"])), input_tensor, meta=doc["meta"])
        for entry in doc["ops"]:
            cls = OPS.get(entry["type"]) if isinstance(entry, dict) else None
            if cls is None or not isinstance(entry.get("fields"), dict):
                raise StoreError("unknown op type")
            declared = {f.name for f in dataclasses.fields(cls) if f.init}
            if set(entry["fields"]) != declared:
                raise StoreError(f"fields of a {entry['type']} op differ from what it declares")
            graph.add(cls(**{k: r.value(v) for k, v in entry["fields"].items()}))
        graph.outputs = [str(o) for o in doc["outputs"]]
    except StoreError:
        raise
    except Exception as exc:    # noqa: BLE001 - whatever a damaged entry makes the ops raise, it is no graph
        raise StoreError(f"stored graph does not rebuild: {type(exc).__name__}") from None
    if _tensor_summary(graph) != doc.get("summary") or not set(graph.outputs) <= set(graph.tensors):
        raise StoreError("rebuilt graph differs from the stored one")
    return graph
