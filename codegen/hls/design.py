"""The kernel graph of the accelerator: IR ops as kernels, some fused, plus the kernels only hardware needs.

Hardware adds an AXI input kernel and maps the IR's `mask` op to the AXI output kernel. Where a
kernel's template can host them (`Op.hosts`), neighbouring ops run inside it instead of in kernels
of their own, which saves each a kernel's control logic and a FIFO and costs nothing else:
- an EPILOGUE op (2x2 max-pool, or the head) applied to the host's output as it is written: the host
  writes the pooled tensor (the logits) too, and its own output only where another kernel reads it;
- a PROLOGUE op (the concatenation of a skip connection) whose output only the host reads: the
  host reads the concatenated streams itself;
- FANOUT: a tensor with several readers (a skip connection: a FIFO has one reader) is written by
  its producer into one stream per reader. Producers that cannot host it get a `split` kernel.
Each kernel has a template, a context of template variables, its input/output streams and a
schedule for the timing model (ops own theirs; the hardware-only kernels are described here).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import QgenError
from ..ir.graph import Graph
from ..timing.schedule import Schedule, TimedKernel, TimingModel, pixelwise
from ..ops.base import EPILOGUE, FANOUT, PROLOGUE
from .cpp import code_type, pixel_type
from .folding import Folding

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
    prologue: object = None     # an op fused in front of `op` (its inputs are the kernel's)
    epilogue: object = None     # an op fused behind `op` (its output leaves through the last streams)
    epilogue_streams: int = 0   # how many of the outputs carry the epilogue's tensor

    @property
    def source(self) -> str:
        return f"firmware/layers/{self.function}.cpp"

    @property
    def ops(self) -> list:
        """Every IR op this kernel implements, in dataflow order."""
        return [o for o in (self.prologue, self.op, self.epilogue) if o is not None]

    @staticmethod
    def ports(prefix: str, count: int) -> list[str]:
        """Argument names of a kernel's streams: `in` / `out` alone, else numbered."""
        return [prefix] if count == 1 else [f"{prefix}{i}" for i in range(count)]

    def prototype(self, design: "Design") -> str:
        """The kernel function's declaration (quantunet_types.h; host templates print it too)."""
        args = [f"hls::stream<{design.streams[s].type}>& {port}"
                for names, prefix in ((self.inputs, "in"), (self.outputs, "out"))
                for s, port in zip(names, Kernel.ports(prefix, len(names)))]
        return f"void {self.function}({', '.join(args)})"

    def _fold(self, design: "Design"):
        return design.folding.of(self.op.name)

    def epilogue_at(self, design: "Design") -> tuple:
        """What the fused epilogue's buffers, cost and template variables depend on: the host's write
        times and pipeline depth, its lanes (PE) and the epilogue's own folding."""
        fold = self._fold(design)
        host = self.op.schedule(design.graph, fold)
        return host.writes[0], host.depth, fold.pe, design.folding.of(self.epilogue.name)

    def carried_buffers(self, design: "Design") -> list:
        """The buffers the kernel stores and loads again later, as its ops computed them (hls/dependence.py)."""
        if self.op is None:
            return []
        buffers = self.op.carried_buffers(design.graph, self._fold(design))
        if self.epilogue is not None:
            times, depth, _, _ = self.epilogue_at(design)
            buffers += self.epilogue.epilogue_buffers(design.graph, times, depth)
        return buffers

    def schedule(self, design: "Design") -> Schedule:
        """The host op's loop, with the fused ops' ports: a prologue's inputs all read when the host
        reads, every copy of the host's output written when it writes, the epilogue's output when
        the epilogue completes a pixel."""
        if self.op is None:
            return HARDWARE_SCHEDULES[self.template](self.context)
        host = self.op.schedule(design.graph, self._fold(design))
        if self.prologue is None and self.epilogue is None and len(self.outputs) == 1:
            return host
        (reads,), (writes,) = host.reads, host.writes
        extra = []
        if self.epilogue is not None:
            extra = [self.epilogue.epilogue_writes(design.graph, writes)] * self.epilogue_streams
        main = len(self.outputs) - self.epilogue_streams
        return Schedule(host.iterations, host.depth, [reads] * len(self.inputs), [writes] * main + extra, host.ii)


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


def fusion_plan(graph: Graph, folding: Folding | None = None) -> tuple[dict, dict]:
    """(host name -> prologue op, host name -> epilogue op): which ops run inside a neighbour's kernel.
    A weighted epilogue (the head) runs inside its host only at a folding that matches the host's
    (`op.fuses_with`); without `folding`, every candidate (the fitter aligns them: fit.py)."""
    producers = {op.output: op for op in graph.ops}
    readers = {name: [op for op in graph.ops if name in op.inputs] for name in graph.tensors}
    prologues, epilogues = {}, {}
    for op in graph.ops:
        if op.fuses_as == EPILOGUE:
            host = producers.get(op.inputs[0])
            if host is None or EPILOGUE not in host.hosts() or host.name in epilogues:
                continue
            if op.weighted and folding is not None and not op.fuses_with(folding.of(host.name), folding.of(op.name)):
                continue
            epilogues[host.name] = op
        elif op.fuses_as == PROLOGUE:
            (host, *more) = readers[op.output] or [None]
            if host is not None and not more and PROLOGUE in host.hosts() and host.name not in prologues:
                prologues[host.name] = op
    return prologues, epilogues


def build_design(graph: Graph, folding: Folding, fuse: bool = True) -> Design:
    """The kernels and streams of `graph` at `folding`; `fuse=False` keeps every op in its own kernel."""
    folding.validate(graph)
    design = Design(graph, folding)
    prologues, epilogues = fusion_plan(graph, folding) if fuse else ({}, {})
    fused = {op.name for op in (*prologues.values(), *epilogues.values())}
    host_of = {op.name: host for host, op in prologues.items()}       # a prologue is read by its host's kernel
    # the kernels reading each tensor (a fused epilogue reads inside its host: no stream)
    readers = {name: [host_of.get(op.name, op.name) for op in graph.ops if name in op.inputs and
                      not (op.name in fused and op.fuses_as == EPILOGUE)] for name in graph.tensors}
    feeds: dict[tuple[str, str], str] = {}       # (tensor, reading kernel) -> stream

    def add_stream(name: str, tensor: str, comment: str = "") -> str:
        design.streams[name] = Stream(name, tensor, pixel_type(tensor) if tensor else "", comment=comment)
        return name

    def publish(tensor: str, fanout: bool) -> list[str]:
        """Streams a producer of `tensor` writes: one per reader when it can (`fanout`), else one, which a
        split kernel copies for each reader."""
        kernels = readers[tensor]
        if not kernels:         # read only by the epilogue fused into its producer (the head)
            return []
        if len(kernels) <= 1:
            s = add_stream(f"{tensor}_s", tensor)
            for k in kernels:
                feeds[(tensor, k)] = s
            return [s]
        outs = []
        for k in kernels:
            comment = "skip connection" if k in prologues else ""
            outs.append(add_stream(f"{tensor}_to_{k}", tensor, comment))
            feeds[(tensor, k)] = outs[-1]
        if fanout:
            return outs
        source = add_stream(f"{tensor}_s", tensor)
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
    reader.outputs = publish(x.name, fanout=False)

    for op in graph.ops:
        if op.name in fused:
            continue
        fold = folding.of(op.name)
        try:
            context = op.kernel_context(graph, fold)
        except ValueError as exc:
            raise QgenError(f"layer {op.name}: {exc}") from None
        prologue, epilogue = prologues.get(op.name), epilogues.get(op.name)
        inputs = [feeds[(name, op.name)] for name in (prologue or op).inputs]
        kernel = Kernel(op.name, op.kernel_template(graph, fold), context, inputs, [], op, prologue, epilogue)
        design.kernels.append(kernel)
        if op.op_type == "mask":
            design.streams[AXIS_OUT] = Stream(AXIS_OUT, "", "axis_out_t")
            kernel.outputs = [AXIS_OUT]
            continue
        kernel.outputs = publish(op.output, fanout=fuse and FANOUT in op.hosts())
        if epilogue is not None:
            pooled = publish(epilogue.output, fanout=True)
            kernel.outputs += pooled
            kernel.epilogue_streams = len(pooled)
        if op.hosts():
            _host_ports(design, kernel)
    for kernel in design.kernels:       # the encoder output a decoder concatenation reads: a skip connection
        if kernel.prologue is not None:
            for stream in kernel.inputs:
                if design.producer(stream).epilogue is not None:
                    design.streams[stream].comment = "skip connection"
    return design


def _host_ports(design: Design, kernel: Kernel) -> None:
    """A host template's port variables: `inputs` (per input stream: port, stream_type, channels,
    offset, shift: the prologue's concatenation, or the op's own input), `outputs` (the ports of
    the op's own tensor) and `epilogue` (the fused op's variables, or None)."""
    graph, op = design.graph, kernel.op
    in_ports = Kernel.ports("in", len(kernel.inputs))
    out_ports = Kernel.ports("out", len(kernel.outputs))
    if kernel.prologue is not None:
        inputs = kernel.prologue.prologue_inputs(graph, in_ports)
    else:
        x = graph.tensors[op.inputs[0]]
        inputs = [dict(port=in_ports[0], stream_type=pixel_type(x.name), channels=x.channels, offset=0, shift=0)]
    main = len(kernel.outputs) - kernel.epilogue_streams
    epilogue = None
    if kernel.epilogue is not None:
        epilogue = kernel.epilogue.epilogue_context(graph, out_ports[main:], *kernel.epilogue_at(design))
    kernel.context.update(inputs=inputs, outputs=out_ports[:main], epilogue=epilogue,
                          signature=kernel.prototype(design))
