"""Golden vectors: the integer reference's codes for a few images, for C++ testbenches.

Each tensor goes to `<tensor>.bin`: raw little-endian int32, images one after another, each image
in stream order [H][W][C] (channels innermost, as the hardware streams pixels). A C++ testbench
reads them with fread and the sizes it already knows from the generated headers; no parser needed.
`manifest.json` names every file with its shape and integer type for people and Python tools.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .ir.graph import Graph

FORMAT = "qgen-goldens"
LAYOUT = "int32 little-endian, [image][H][W][C]"


def to_stream_order(codes: np.ndarray) -> np.ndarray:
    """[N, C, H, W] -> [N, H, W, C] as little-endian int32."""
    if codes.size and (codes.min() < np.iinfo(np.int32).min or codes.max() > np.iinfo(np.int32).max):
        raise ValueError("codes exceed int32")
    return np.ascontiguousarray(codes.transpose(0, 2, 3, 1)).astype("<i4")


def read_tensor(path: str | Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of the file format: int64 codes [N, C, H, W]."""
    c, h, w = shape
    flat = np.fromfile(path, dtype="<i4")
    return flat.reshape(-1, h, w, c).transpose(0, 3, 1, 2).astype(np.int64)


def write_goldens(graph: Graph, input_codes: np.ndarray, out_dir: str | Path, image_ids: list[str]) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    values = graph.run(input_codes)
    producers = {op.output: op for op in graph.ops}
    entries = []
    for name, codes in values.items():
        tensor = graph.tensors[name]
        file = f"{name}.bin"
        # not ndarray.tofile: its OSError on a full disk carries no errno ("Error: OSError")
        (out_dir / file).write_bytes(to_stream_order(codes).tobytes())
        entries.append({
            "name": name,
            "op": producers[name].op_type if name in producers else "input",
            "shape": list(tensor.shape),
            "type": tensor.dtype.to_dict(),
            "file": file,
            "elements_per_image": tensor.elements,
        })
    manifest = {
        "format": FORMAT,
        "version": 1,
        "model": graph.name,
        "layout": LAYOUT,
        "images": int(len(input_codes)),
        "image_ids": list(image_ids),
        "input": graph.input.name,
        "outputs": list(graph.outputs),
        "tensors": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
