"""QONNX export of a checkpoint, and execution of a QONNX file with qonnx's own executor.

qonnx's executor reproduces Brevitas exactly; onnxruntime with its default graph optimisations
does not, so it is not used as a reference anywhere.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from quantunet.checkpoint import load_checkpoint

from .errors import QgenError
from .safe_io import atomic_file


def export(model_path, out_path, force: bool = False) -> Path:
    """Write the QONNX model atomically (umask permissions; an existing file only with `force`)."""
    import warnings

    try:
        import onnxoptimizer  # noqa: F401 - Brevitas's exporter needs it
    except ImportError:
        raise QgenError("QONNX export needs the 'onnxoptimizer' package: pip install onnxoptimizer") from None
    from brevitas.export import export_qonnx

    ckpt = load_checkpoint(model_path)
    if not ckpt.config.quantized:
        raise QgenError(f"'{model_path}' is a float baseline; QONNX export is for quantized models")
    model = ckpt.build_model()
    cfg = ckpt.config
    example = torch.zeros(1, cfg.in_channels, cfg.input_size, cfg.input_size)
    with atomic_file(out_path, force, "QONNX file") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # TorchScript exporter: stable node names and scalar bitwidth initializers
            export_qonnx(model, args=example, export_path=str(tmp), dynamo=False)
    return Path(out_path)


def execute(onnx_path, images: np.ndarray) -> np.ndarray:
    """Run a QONNX file on float images [N, C, H, W] with qonnx's executor; returns the output."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    model = ModelWrapper(str(onnx_path)).transform(InferShapes())
    name_in, name_out = model.graph.input[0].name, model.graph.output[0].name
    outputs = [execute_onnx(model, {name_in: images[i:i + 1].astype(np.float32)})[name_out]
               for i in range(len(images))]
    return np.concatenate(outputs)
