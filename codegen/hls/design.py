"""The kernel graph of the accelerator: IR ops plus the kernels only hardware needs.

Hardware adds an AXI input kernel, a `split` kernel wherever a tensor feeds two consumers (every
skip connection: a FIFO has one reader), and maps the IR's `mask` op to the AXI output kernel.
Each kernel has a template, a context of template variables, its input/output streams and a
schedule for the timing model (ops own theirs; the two hardware-only kernels are described here).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import QgenError
from ..ir.graph import Graph
from ..timing.schedule import Schedule, TimedKernel, TimingModel, pixelwise
from .cpp import code_type, pixel_type
from .folding import Folding, LayerFold

TOP = "quantunet"
SPLIT_TEMPLATE = "kernels/split.cpp.j2"
INPUT_TEMPLATE = "kernels/input.cpp.j2"
AXIS_IN, AXIS_OUT = "in", "out"

# Schedules of the kernels without an IR op: one pixel per iteration (input.cpp.j2, split.cpp.j2).
HARDWARE_SCHEDULES = {
    INPUT_TEMPLATE: lambda ctx: pixelwise(ctx["H"] * ctx["W"], 1, 1),
    SPLIT_TEMPLATE: lambda ctx: pixelwise(ctx["H"] * ctx["W"], 1, ctx["outputs"]),
}


@dataclass
class Stream:
    name: str
    tensor: str            # the IR tensor it carries ("" for the AXI ports)
    type: str              # C++ element type
    depth: int = 2
    comment: str = ""


@dataclass
class Kernel:
    function: str
    template: str
    context: dict
    inputs: list[str]      # stream names, in argument order
    outputs: list[str]
    op: object = None      # the IR op, or None for input/split kernels

    @property
    def source(self) -> str:
        return f"firmware/layers/{self.function}.cpp"

    def carried_buffers(self, design: "Design") -> list:
        """The buffers the kernel stores and loads again later, as its op computed them (hls/dependence.py)."""
        if self.op is None:
            return []
        return self.op.carried_buffers(design.graph, design.folding.get(self.op.name, LayerFold()))

    def schedule(self, design: "Design") -> Schedule:
        if self.op is not None:
            return self.op.schedule(design.graph, design.folding.get(self.op.name, LayerFold()))
        return HARDWARE_SCHEDULES[self.template](self.context)


@dataclass
class Design:
    graph: Graph
    folding: Folding
    kernels: list[Kernel] = field(default_factory=list)
    streams: dict[str, Stream] = field(default_factory=dict)

    @property
    def in_tdata(self) -> int:
        t = self.graph.input
        return 8 * -(-(t.channels * t.dtype.bits) // 8)

    def producer(self, stream: str) -> Kernel:
        return next(k for k in self.kernels if stream in k.outputs)

    def timing_model(self, clock_ns: float = 10.0) -> TimingModel:
        """Every kernel's schedule and every FIFO's declared depth, for codegen.timing."""
        kernels = [TimedKernel(k.function, list(k.inputs), list(k.outputs), k.schedule(self)) for k in self.kernels]
        depths = {name: s.depth for name, s in self.streams.items() if s.tensor}
        external = {name for name, s in self.streams.items() if not s.tensor}
        return TimingModel(kernels, depths, external, clock_ns)


def build_design(graph: Graph, folding: Folding) -> Design:
    folding.validate(graph)
    design = Design(graph, folding)
    consumers = {name: [op for op in graph.ops if name in op.inputs] for name in graph.tensors}
    # the stream each (tensor, consumer) pair reads
    feeds: dict[tuple[str, str], str] = {}

    def add_stream(name: str, tensor: str, comment: str = "") -> str:
        design.streams[name] = Stream(name, tensor, pixel_type(tensor) if tensor else "", comment=comment)
        return name

    def publish(tensor: str) -> list[str]:
        """Streams a producer of `tensor` writes: one, or one per consumer through a split kernel."""
        readers = consumers[tensor]
        if len(readers) <= 1:
            s = add_stream(f"{tensor}_s", tensor)
            for op in readers:
                feeds[(tensor, op.name)] = s
            return [s]
        source = add_stream(f"{tensor}_s", tensor)
        outs = []
        for op in readers:
            comment = "skip connection" if op.op_type == "concat" else ""
            s = add_stream(f"{tensor}_to_{op.name}", tensor, comment)
            feeds[(tensor, op.name)] = s
            outs.append(s)
        t = graph.tensors[tensor]
        design.kernels.append(Kernel(f"split_{tensor}", SPLIT_TEMPLATE,
                                     dict(name=f"split_{tensor}", H=t.shape[1], W=t.shape[2],
                                          in_pixel=pixel_type(tensor), outputs=len(outs)),
                                     [source], outs))
        return [source]

    # producers are appended before publish(), which may append the split kernel that follows them
    x = graph.input
    design.streams[AXIS_IN] = Stream(AXIS_IN, "", "axis_in_t")
    reader = Kernel("read_input", INPUT_TEMPLATE, dict(
        name="read_input", H=x.shape[1], W=x.shape[2], C=x.channels, IN_BITS=x.dtype.bits,
        TDATA=design.in_tdata, axis_in_t="axis_in_t", out_pixel=pixel_type(x.name), out_t=code_type(x.name)),
        [AXIS_IN], [])
    design.kernels.append(reader)
    reader.outputs = publish(x.name)

    for op in graph.ops:
        fold = folding.get(op.name, LayerFold())
        try:
            context = op.kernel_context(graph, fold)
        except ValueError as exc:
            raise QgenError(f"layer {op.name}: {exc}") from None
        inputs = [feeds[(name, op.name)] for name in op.inputs]
        kernel = Kernel(op.name, op.kernel_template(graph, fold), context, inputs, [], op)
        design.kernels.append(kernel)
        if op.op_type == "mask":
            design.streams[AXIS_OUT] = Stream(AXIS_OUT, "", "axis_out_t")
            kernel.outputs = [AXIS_OUT]
        else:
            kernel.outputs = publish(op.output)
    return design
