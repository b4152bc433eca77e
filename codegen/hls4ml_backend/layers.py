"""qgen's layers for hls4ml, added through hls4ml's extension API (never by patching hls4ml).

- QgenThreshold: the multi-threshold activation (BatchNorm + ReLU + quantizer folded by qgen), and
  the mask (a single threshold at logit 1, i.e. logit > 0).
- QgenConvTranspose: 2x2 stride-2 transposed convolution, which hls4ml lacks (hls4ml#896).
Their C++ kernels are templates/hls4ml/nnet_qgen_*.h, registered as sources of the backend.
"""
from __future__ import annotations

from pathlib import Path

import hls4ml
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.layers import Layer
from hls4ml.model.types import FixedPrecisionType

from ..confine import confined_path
from ..hls.render import TEMPLATES_DIR

SOURCES = ("nnet_qgen_threshold.h", "nnet_qgen_conv_transpose.h")


def fixed_type(bits: int, signed: bool, exp: int) -> FixedPrecisionType:
    """code * 2^exp with `bits`-wide codes is ap_(u)fixed<bits, bits + exp>."""
    return FixedPrecisionType(width=bits, integer=bits + exp, signed=signed)


class QgenThreshold(Layer):
    """Attributes: n_pixels, n_chan, out_bits, threshold_data [n_chan, levels], threshold_precision."""

    def initialize(self):
        inp = self.get_input_variable()
        self.add_output_variable(inp.shape)
        self.add_weights_variable(name="threshold", var_name="t{index}", data="threshold",
                                  precision=self.get_attr("threshold_precision"))


class QgenConvTranspose(Layer):
    """Attributes: in_height, in_width, n_chan, n_filt, weight_data [4, n_filt, n_chan], weight_precision."""

    def initialize(self):
        shape = [2 * self.get_attr("in_height"), 2 * self.get_attr("in_width"), self.get_attr("n_filt")]
        self.add_output_variable(shape)
        self.add_weights_variable(name="weight", var_name="w{index}", data="weight",
                                  precision=self.get_attr("weight_precision"))


THRESHOLD_CONFIG = """struct config{index} : nnet::qgen_threshold_config {{
    static const unsigned n_pixels = {n_pixels};
    static const unsigned n_chan = {n_chan};
    static const unsigned n_levels = {n_levels};
    static const unsigned out_bits = {out_bits};
    static const unsigned reuse_factor = {reuse};
    typedef {threshold_t} threshold_t;
}};
"""

CONV_TRANSPOSE_CONFIG = """struct config{index} : nnet::qgen_conv_transpose_config {{
    static const unsigned in_height = {in_height};
    static const unsigned in_width = {in_width};
    static const unsigned n_chan = {n_chan};
    static const unsigned n_filt = {n_filt};
    static const unsigned reuse_factor = {reuse};
    typedef {weight_t} weight_t;
}};
"""


class QgenThresholdConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(QgenThreshold)
        self.template = THRESHOLD_CONFIG

    def format(self, node):
        params = self._default_config_params(node)
        params["n_levels"] = 2 ** node.get_attr("out_bits") - 1
        params["threshold_t"] = node.get_weights("threshold").type.name
        return self.template.format(**params)


class QgenThresholdFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(QgenThreshold, include_header=["nnet_utils/nnet_qgen_threshold.h"])
        self.template = "nnet::qgen_threshold<{input_t}, {output_t}, {config}>({input}, {output}, {t});"

    def format(self, node):
        params = self._default_function_params(node)
        params["t"] = node.get_weights("threshold").name
        return self.template.format(**params)


class QgenConvTransposeConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(QgenConvTranspose)
        self.template = CONV_TRANSPOSE_CONFIG

    def format(self, node):
        params = self._default_config_params(node)
        params["weight_t"] = node.get_weights("weight").type.name
        return self.template.format(**params)


class QgenConvTransposeFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(QgenConvTranspose, include_header=["nnet_utils/nnet_qgen_conv_transpose.h"])
        self.template = "nnet::qgen_conv_transpose<{input_t}, {output_t}, {config}>({input}, {output}, {w});"

    def format(self, node):
        params = self._default_function_params(node)
        params["w"] = node.get_weights("weight").name
        return self.template.format(**params)


_registered: set[str] = set()   # backends whose templates are registered, plus layers once


def register(backend_name: str = "Vitis", templates_dir: Path | None = None) -> None:
    """Register the layers and templates with an hls4ml backend (once per process), and the kernel
    sources from `templates_dir`/hls4ml (every call: an edited copy of the templates replaces them)."""
    if not _registered:
        hls4ml.model.layers.register_layer("QgenThreshold", QgenThreshold)
        hls4ml.model.layers.register_layer("QgenConvTranspose", QgenConvTranspose)
    backend = hls4ml.backends.get_backend(backend_name)
    if backend_name not in _registered:
        for template in (QgenThresholdConfigTemplate, QgenThresholdFunctionTemplate,
                         QgenConvTransposeConfigTemplate, QgenConvTransposeFunctionTemplate):
            backend.register_template(template)
        _registered.add(backend_name)
    base = Path(templates_dir) if templates_dir else TEMPLATES_DIR
    for name in SOURCES:     # hls4ml copies these into the project: never a file from elsewhere
        backend.register_source(confined_path(base, Path("hls4ml") / name, "template"))
