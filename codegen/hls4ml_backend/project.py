"""Writing an hls4ml project of the model, with qgen's golden vectors and testbench beside it.

The project is a normal hls4ml Vitis project (its build_prj.tcl, firmware/, its own testbench
quantunet_test.cpp with tb_data/tb_input_features.dat and tb_output_predictions.dat), plus
tb/tb_qgen.cpp and tb_data/*.bin so that `qgen csim` checks it exactly like a template project.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

from ..errors import QgenError
from ..hls.folding import Folding
from ..hls.project import HlsRequest, project_summary, write_files, write_project_data
from ..hls.render import Renderer
from ..project_io import atomic_directory
from .convert import INPUT, PROJECT_NAME, build_model

WEIGHTS_DIR = "firmware/weights"   # hls4ml's C-simulation loads weights from text files here


def _bits(precision) -> int:
    return precision.width


def precision_rows(model, graph) -> list[dict]:
    """Per weighted layer, the precisions hls4ml actually holds (read back from its model)."""
    layers = {layer.name: layer for layer in model.get_layers()}
    rows = []
    for op in graph.weighted_ops:
        compute = layers.get(f"{op.name}_conv") or layers.get(f"{op.name}_convT") or layers[op.name]
        act = layers[op.name]
        rows.append({
            "name": op.name, "op": op.op_type,
            "weight_bits": _bits(compute.get_weights("weight").type.precision),
            "in_bits": _bits(compute.get_input_variable().type.precision),
            "out_bits": _bits(act.get_output_variable().type.precision),
            "acc_bits": _bits(compute.get_output_variable().type.precision),
            "hls4ml_layers": sorted({compute.name, act.name}),
            "precision": {"weight": str(compute.get_weights("weight").type.precision.definition_cpp()),
                          "accum": str(compute.get_output_variable().type.precision.definition_cpp()),
                          "result": str(act.get_output_variable().type.precision.definition_cpp())},
        })
    return rows


def _check_precisions(rows: list[dict], graph) -> None:
    """The model hls4ml built must carry exactly the graph's types, or it is not bit-exact."""
    for row in rows:
        op = graph.op(row["name"])
        want = (op.weight_type.bits, graph.tensors[op.inputs[0]].dtype.bits, graph.tensors[op.output].dtype.bits,
                op.acc_type.bits)
        got = (row["weight_bits"], row["in_bits"], row["out_bits"], row["acc_bits"])
        if want != got:
            raise QgenError(f"layer {row['name']}: hls4ml holds widths {got}, the graph needs {want}")


def _hls4ml_tb_data(root: Path, graph, images: np.ndarray) -> None:
    """hls4ml's own testbench inputs/expected outputs: one image per line, values as floats."""
    codes = graph.input_quant.quantize(images / 256.0)
    values = graph.run(codes)
    x = (codes * graph.input.dtype.scale).transpose(0, 2, 3, 1).reshape(len(codes), -1)
    logits, mask = graph.outputs
    y = np.concatenate([values[logits].reshape(len(codes), -1) * graph.tensors[logits].dtype.scale,
                        values[mask].reshape(len(codes), -1)], axis=1)
    np.savetxt(root / "tb_data" / "tb_input_features.dat", x, fmt="%.10g")
    np.savetxt(root / "tb_data" / "tb_output_predictions.dat", y, fmt="%.10g")


def generate(lowered, request: HlsRequest, out_dir: Path, folding: Folding, *, force: bool = False,
             images=None, image_ids=None, templates_dir=None, tcl_dir=None) -> dict:
    graph = lowered.graph
    renderer = Renderer(templates_dir, tcl_dir)
    with atomic_directory(out_dir, force=force) as tmp:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            logging.getLogger("hls4ml").setLevel(logging.ERROR)
            model = build_model(graph, folding, request.part.full, request.clock_ns, str(tmp), templates_dir)
            model.write()
        rows = precision_rows(model, graph)
        _check_precisions(rows, graph)
        outputs = model.get_output_variables()
        x = graph.input
        logits, mask = graph.outputs
        pixels = x.shape[1] * x.shape[2]
        tb = renderer.render("hls4ml/testbench.cpp.j2", dict(
            model_name=graph.name, top=PROJECT_NAME, images=len(images), pixels=pixels,
            input=dict(tensor=x.name, pixels=pixels, channels=x.channels,
                       type=model.get_input_variables()[0].type.name),
            logits=dict(tensor=logits, type=outputs[0].type.name), mask=dict(tensor=mask, type=outputs[1].type.name)))
        sources = [f"firmware/{PROJECT_NAME}.cpp"]
        build = {"top": PROJECT_NAME, "sources": sources, "testbench": "tb/tb_qgen.cpp",
                 "include_dirs": [], "defines": {"WEIGHTS_DIR": f'"{WEIGHTS_DIR}"'},
                 "tcl": "qgen_build_prj.tcl", "hls4ml_tcl": "build_prj.tcl", "input_layer": INPUT}
        summary = project_summary(graph, request, rows, None, build)
        files = {"tb/tb_qgen.cpp": tb,
                 "qgen_build_prj.tcl": renderer.render("build_prj.tcl.j2", dict(
                     model_name=graph.name, project=f"{graph.name}_qgen_prj", top=PROJECT_NAME,
                     part=request.part.full, clock_ns=request.clock_ns, sources=sources,
                     testbench="tb/tb_qgen.cpp", cflags="-std=c++14",
                     # Vitis copies these next to the simulation; hls4ml then finds its weights in "weights"
                     tb_files=["tb_data", WEIGHTS_DIR]))}
        write_files(tmp, files)
        write_project_data(tmp, graph, summary, images, image_ids)
        _hls4ml_tb_data(tmp, graph, images)
    return summary
