"""Writing a Vitis HLS project from the integer graph with the Jinja2 templates.

Layout of a generated project:
  qgen_project.json          what was generated: model, part, clock, layers, folding, FIFO depths
  folding.json               per-layer PE/SIMD/multiplier type, editable; `qgen hls --folding` reads it
  resources_estimate.json    analytical resource/latency estimate (qgen report-resources shows it)
  firmware/                  qgen_common.h, quantunet_types.h, quantunet.cpp (dataflow top),
                             layers/<kernel>.cpp and, for weighted layers, layers/<layer>.h
  tb/tb_quantunet.cpp        testbench (g++ csim, Vitis csim_design and cosim_design)
  tb_data/                   golden vectors + manifest.json
  build_prj.tcl, hls_config.cfg, synth_layer.tcl, README.md
  schedule.json              kernel schedules and FIFO depths for `qgen simulate` (the timing model)
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..confine import check_links_stay_inside
from ..errors import QgenError
from ..goldens import write_goldens
from ..parts import Part
from ..project_io import atomic_directory
from ..resources.estimate import estimate_report, stream_width
from ..resources.formulas import fifo_impl
from ..safe_io import is_number, read_json_input
from ..timing.schedule import model_to_json
from .compile_check import compile_edited
from .design import TOP, Design, build_design
from .fifo import assign_depths
from .folding import Folding
from .hazards import check_units
from .linemap import LineMaps, lint_problem
from .lint import lint_project, parse_kernels
from .lint_cache import cached_firmware_check
from .render import Renderer

SCHEDULE_FILE = "schedule.json"     # what `qgen simulate` needs: every kernel's schedule and FIFO depth
THREADED_TESTBENCH = "tb/tb_threaded.cpp"   # `qgen csim --threaded`: kernels in threads, bounded FIFOs
THREADED_INCLUDE = "tb/threaded"            # its hls_stream.h, first on that build's include path

PROJECT_FORMAT = "qgen-project"
MAX_MANIFEST_BYTES = 16 << 20
CFLAGS = "-std=c++14"   # includes are relative to each file, as Vitis C-simulation builds elsewhere


@dataclass
class HlsRequest:
    part: Part
    clock_ns: float
    n_images: int
    backend: str = "templates"
    calibration: object = None      # resources.calibration.Calibration: the user's correction factors
    allow_hazards: bool = False     # report hazards in the generated code as warnings, not errors
    fuse: bool = True               # run max-pools, concatenations and fan-out inside neighbouring kernels
    target_fps: float | None = None     # --target-fps: FIFOs may slow the design down to this rate (1-deep FIFOs)


def layer_rows(design: Design) -> list[dict]:
    """Per weighted layer: the learned widths the kernels were sized to, the folding, and the cycles
    of the kernel that runs it (a layer fused into another's kernel, the head, says which: `runs_in`)."""
    rows = []
    graph = design.graph
    kernel_of = {op.name: k for k in design.kernels for op in k.ops}
    for op in graph.weighted_ops:
        x = graph.tensors[op.inputs[0]]
        y = graph.tensors[op.output]
        fold = design.folding[op.name]
        kernel = kernel_of[op.name]
        row = {"name": op.name, "op": op.op_type, "weight_bits": op.weight_type.bits,
               "in_bits": x.dtype.bits, "out_bits": y.dtype.bits, "acc_bits": op.acc_type.bits,
               "pe": fold.pe, "simd": fold.simd, "cycles": kernel.op.cycles(graph, design.folding[kernel.op.name])}
        if kernel.op is not op:
            row["runs_in"] = kernel.function
        rows.append(row)
    return rows


def _tensor_entries(design: Design) -> list[dict]:
    graph = design.graph
    producers = {op.output: op for op in graph.ops}
    entries = []
    for name, t in graph.tensors.items():
        op = producers.get(name)
        comment = "input codes = 8-bit pixels" if name == graph.input.name else (op.op_type if op else "")
        entries.append(dict(name=name, ctype=t.dtype.ctype, channels=t.channels, shape=list(t.shape),
                            exp=t.dtype.exp, comment=comment))
    return entries


def _stream_checks(design: Design) -> list[dict]:
    """Per output stream of every layer kernel: the check's name (the layer whose tensor it carries;
    a second copy of a tensor, for another reader, is named after its stream) and its tensor."""
    producers = {op.output: op for op in design.graph.ops}
    checks, seen = {}, set()
    for kernel in design.kernels:
        if kernel.op is None or kernel.op.op_type == "mask":
            continue
        for stream in kernel.outputs:
            tensor = design.streams[stream].tensor
            name = producers[tensor].name if tensor not in seen else f"{producers[tensor].name}.{stream}"
            seen.add(tensor)
            checks[stream] = dict(name=name, tensor=tensor)
    return [dict(stream=s, **c) for s, c in checks.items()]


def _testbench_context(design: Design, n_images: int, golden_tensors: list[str]) -> dict:
    graph = design.graph

    def spec(name):
        t = graph.tensors[name]
        return dict(tensor=name, elements=t.elements, pixels=t.shape[1] * t.shape[2])

    outputs = {c["stream"]: c for c in _stream_checks(design)}
    checks = [dict(function=k.function, inputs=[spec(design.streams[s].tensor) for s in k.inputs],
                   outputs=[dict(name=outputs[s]["name"], result=f"r{i}_{j}", **spec(outputs[s]["tensor"]))
                            for j, s in enumerate(k.outputs)])
              for i, k in enumerate(design.kernels) if k.op is not None and k.op.op_type != "mask"]
    logits, mask = graph.outputs
    x = graph.input
    return dict(model_name=graph.name, top=TOP, images=n_images,
                goldens=[dict(tensor=n, elements=graph.tensors[n].elements) for n in golden_tensors],
                checks=checks, logits=logits, mask=mask, pixels=x.shape[1] * x.shape[2],
                input=dict(tensor=x.name, pixels=x.shape[1] * x.shape[2], channels=x.channels, bits=x.dtype.bits))


def _threaded_context(design: Design, n_images: int) -> dict:
    """testbench_threaded.cpp.j2: the top's kernels and FIFOs, and which FIFO carries each layer's output."""
    graph = design.graph
    context = _testbench_context(design, n_images, list(graph.tensors))
    context["streams"] = [dict(name=s.name, type=s.type, depth=s.depth) for s in design.streams.values() if s.tensor]
    context["kernels"] = [dict(function=k.function, args=k.inputs + k.outputs) for k in design.kernels]
    context["checks"] = [dict(name=c["name"], result=f"r{i}", stream=c["stream"], tensor=c["tensor"],
                              elements=graph.tensors[c["tensor"]].elements)
                         for i, c in enumerate(_stream_checks(design))]
    return context


def render_project(design: Design, request: HlsRequest, renderer: Renderer) -> dict[str, str]:
    """All generated text files, by relative path."""
    graph = design.graph
    files: dict[str, str] = {}
    files["firmware/qgen_common.h"] = renderer.render("qgen_common.h.j2", {})
    files["firmware/quantunet_types.h"] = renderer.render("quantunet_types.h.j2", dict(
        model_name=graph.name, top=TOP, tensors=_tensor_entries(design), IN_TDATA=design.in_tdata,
        prototypes=[k.prototype(design) for k in design.kernels] +
        ["void quantunet(hls::stream<axis_in_t>& in, hls::stream<axis_out_t>& out)"]))
    for kernel in design.kernels:
        ctx = kernel.context
        for op in kernel.ops:       # the kernel's own layer, and a weighted op fused into it (the head)
            if not op.weighted:
                continue
            fold = design.folding[op.name]
            summary = f"{op.op_type}, weights {op.weight_type.describe()}, accumulator {op.acc_type.bits} bits"
            own = ctx if op is kernel.op else op.kernel_context(graph, fold)
            files[f"firmware/layers/{op.name}.h"] = renderer.render(
                "layer_params.h.j2", {**own, **op.kernel_data(graph, fold), "summary": summary})
        files[kernel.source] = renderer.render(kernel.template, ctx)
    files["firmware/quantunet.cpp"] = renderer.render("quantunet.cpp.j2", dict(
        model_name=graph.name, top=TOP,
        streams=[{**vars(s), "impl": fifo_impl(stream_width(design, s.name), s.depth)}
                 for s in design.streams.values() if s.tensor],
        calls=[dict(function=k.function, args=k.inputs + k.outputs) for k in design.kernels]))
    sources = ["firmware/quantunet.cpp"] + [k.source for k in design.kernels]
    tcl = dict(model_name=graph.name, project=f"{graph.name}_prj", top=TOP, part=request.part.full,
               clock_ns=request.clock_ns, sources=sources, testbench="tb/tb_quantunet.cpp", cflags=CFLAGS,
               tb_files=["tb_data"],
               layers=[dict(name=k.function, source=k.source) for k in design.kernels])
    files["build_prj.tcl"] = renderer.render("build_prj.tcl.j2", tcl)
    files["hls_config.cfg"] = renderer.render("hls_config.cfg.j2", tcl)
    files["synth_layer.tcl"] = renderer.render("synth_layer.tcl.j2", tcl)
    return files


def generate(lowered, request: HlsRequest, out_dir: Path, folding: Folding, *, force: bool = False,
             templates_dir=None, tcl_dir=None, images=None, image_ids=None) -> dict:
    """Write the template-backend project atomically; returns the summary (also qgen_project.json)."""
    graph = lowered.graph
    renderer = Renderer(templates_dir, tcl_dir)
    design = build_design(graph, folding, fuse=request.fuse)
    timing = assign_depths(design, request.clock_ns, target_fps=request.target_fps).to_json()
    resources = estimate_report(design, request.part, request.clock_ns, timing, request.calibration)
    files = render_project(design, request, renderer)
    files[SCHEDULE_FILE] = json.dumps(model_to_json(design.timing_model(request.clock_ns))) + "\n"
    files["tb/tb_quantunet.cpp"] = renderer.render("testbench.cpp.j2",
                                                   _testbench_context(design, len(images), list(graph.tensors)))
    files[THREADED_TESTBENCH] = renderer.render("testbench_threaded.cpp.j2", _threaded_context(design, len(images)))
    files[f"{THREADED_INCLUDE}/hls_stream.h"] = renderer.render("threaded/hls_stream.h.j2", {})
    summary = project_summary(graph, request, layer_rows(design), resources, build={
        "top": TOP,
        "sources": ["firmware/quantunet.cpp"] + [k.source for k in design.kernels],
        "testbench": "tb/tb_quantunet.cpp",
        "threaded_testbench": THREADED_TESTBENCH,
        "threaded_include": THREADED_INCLUDE,
        "include_dirs": [],
        "defines": {},
        "precompiled_header": "firmware/qgen_common.h",
        "tcl": "build_prj.tcl",
    })
    summary["fifos"] = [{"name": s.name, "tensor": s.tensor, "depth": s.depth, "comment": s.comment}
                        for s in design.streams.values() if s.tensor and s.depth > 2]
    summary["timing"] = timing
    summary["carried_buffers"] = {k.function: [b.to_json() for b in k.carried_buffers(design)]
                                  for k in design.kernels if k.carried_buffers(design)}
    files["folding.json"] = json.dumps(folding.to_json(), indent=2) + "\n"
    files["resources_estimate.json"] = json.dumps(resources, indent=2) + "\n"

    with atomic_directory(out_dir, force=force) as tmp:
        write_files(tmp, files)
        maps = LineMaps.from_rendered(files)      # messages about generated lines name the template line
        maps.save(tmp)
        # an edited template must not slip out of the synthesizable subset nor bring hazards (verdicts
        # are cached), and its C++ mistakes stop here, at the template line: the checks run at once
        summary["hazards"] = check_kernels(tmp, design, maps, request.allow_hazards,
                                           alongside=lambda: compile_edited(tmp, summary, maps, renderer.edited))
        write_project_data(tmp, graph, summary, images, image_ids)
    return summary


def check_kernels(root: Path, design: Design, maps: LineMaps, allow_hazards: bool = False,
                  alongside=None) -> list[str]:
    """Refuse kernels outside the synthesizable subset, and kernels with hazards (hls/hazards.py) unless
    allowed; returns the hazards allowed through. Edited templates go through the same checks. One
    clang parse serves both, and the verdict is cached with the carried buffers it was checked against."""
    buffers = {k.source: {b.array: b for b in k.carried_buffers(design)} for k in design.kernels}
    against = json.dumps({source: {a: b.to_json() for a, b in found.items()} for source, found in buffers.items()},
                         sort_keys=True)

    def check() -> list[str]:
        units = parse_kernels(root)
        return ([f"lint\t{p}" for p in lint_project(root, units)] +
                [f"hazard\t{h}" for h in check_units(root, units, buffers)])

    found = cached_firmware_check(root, check, against, alongside=alongside)
    problems = [p.split("\t", 1)[1] for p in found if p.startswith("lint\t")]
    hazards = [p.split("\t", 1)[1] for p in found if p.startswith("hazard\t")]
    if problems:
        raise QgenError(f"generated code leaves the synthesizable subset: {_first(problems, maps)}")
    if hazards and not allow_hazards:
        raise QgenError(f"hazard in the generated code: {_first(hazards, maps)} (--allow-hazards writes it anyway)")
    return hazards


def _first(problems: list[str], maps: LineMaps) -> str:
    """The first problem at its template line, and how many more there are."""
    return lint_problem(problems[0], maps) + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def project_summary(graph, request: HlsRequest, layers: list[dict], resources: dict | None, build: dict) -> dict:
    """The qgen_project.json of any backend: what was generated, and how to build and check it."""
    summary = {
        "format": PROJECT_FORMAT,
        "version": 1,
        "model": graph.name,
        "backend": request.backend,
        "part": request.part.full,
        "part_short": request.part.short,
        "clock_ns": request.clock_ns,
        **build,
        "images": int(request.n_images),
        "layers": layers,
        "fifos": [],
        "input": {"shape": list(graph.input.shape), **graph.input.dtype.to_dict()},
    }
    if resources is not None:
        summary["interval_cycles"] = resources["interval_cycles"]
        summary["estimate"] = {k: resources[k] for k in ("total", "available", "fits", "fps", "dsp_roofline_fps",
                                                         "roofline_ratio", "bottleneck")}
    return summary


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def write_project_data(root: Path, graph, summary: dict, images, image_ids) -> None:
    """Golden vectors, the manifest and the README: the same for every backend."""
    write_goldens(graph, graph.input_quant.quantize(images / 256.0), root / "tb_data", image_ids)
    (root / "qgen_project.json").write_text(json.dumps(summary, indent=2) + "\n")
    (root / "README.md").write_text(_project_readme(summary))


def load_project(path: str | Path) -> tuple[Path, dict]:
    """A project folder and its checked manifest. Every command that reads a project comes here
    first, so no symbolic link in it may lead outside (csim would compile, run or write there)."""
    root = Path(path)
    manifest = root / "qgen_project.json"
    if not manifest.is_file():
        raise QgenError(f"'{root}' is not a qgen project (no qgen_project.json)")
    check_links_stay_inside(root, "project")
    data = read_json_input(manifest, "project manifest", MAX_MANIFEST_BYTES)
    if not isinstance(data, dict) or data.get("format") != PROJECT_FORMAT:
        raise QgenError(f"{manifest} is not a qgen project manifest")
    _check_manifest(data, manifest)
    return root, data


_REL_PATH = re.compile(r"(?!/)(?!.*\.\.)[A-Za-z0-9_./-]{1,200}")     # relative, inside the project
_DEFINE_VALUE = re.compile(r"-?\d{1,12}|[A-Za-z_]\w{0,63}|\"[A-Za-z0-9_./-]{0,100}\"")


def _check_manifest(data: dict, manifest: Path) -> None:
    """The manifest steers the compiler (sources, include folders, -D flags): it is input like any
    other file, so every field is checked before anything is compiled or run."""
    def bad(field: str, expected: str):
        raise QgenError(f"{manifest}: '{field}' must be {expected}; regenerate the project with qgen hls")

    def rel_path(field: str, value) -> None:
        if not isinstance(value, str) or not _REL_PATH.fullmatch(value):
            bad(field, "a relative path inside the project")

    for field in ("model", "backend", "part", "top"):
        if not isinstance(data.get(field), str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", data[field]):
            bad(field, "a plain name")
    if not is_number(data.get("clock_ns"), 0.01, 1e6):
        bad("clock_ns", "a positive number")
    if not is_number(data.get("images"), 1, 10_000, integer=True):
        bad("images", "a count of golden images")
    sources = data.get("sources")
    if not isinstance(sources, list) or not sources:
        bad("sources", "a list of source files")
    for i, source in enumerate(sources):
        rel_path(f"sources[{i}]", source)
    for field in ("testbench", "tcl"):
        rel_path(field, data.get(field))
    for field in ("precompiled_header", "threaded_testbench", "threaded_include"):
        if data.get(field) is not None:
            rel_path(field, data[field])
    include_dirs = data.get("include_dirs", [])
    if not isinstance(include_dirs, list):
        bad("include_dirs", "a list")
    for i, folder in enumerate(include_dirs):
        rel_path(f"include_dirs[{i}]", folder)
    defines = data.get("defines", {})
    if not isinstance(defines, dict):
        bad("defines", "a map")
    for key, value in defines.items():
        if not re.fullmatch(r"[A-Za-z_]\w{0,63}", key) or not _DEFINE_VALUE.fullmatch(str(value)):
            bad(f"defines.{str(key)[:30]}", "a macro name with a number, name or plain quoted string")
    layers = data.get("layers", [])
    if not isinstance(layers, list):
        bad("layers", "a list")
    for i, row in enumerate(layers):      # report-resources plots and prints these rows
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) \
                or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", row["name"]):
            bad(f"layers[{i}]", "an object with a plain layer name")
        for key in ("weight_bits", "in_bits", "out_bits", "acc_bits"):
            if not is_number(row.get(key), 0, 1024, integer=True):
                bad(f"layers[{i}].{key}", "a bit count")
        for key in ("pe", "simd", "cycles"):
            if key in row and not is_number(row[key], 0, 1 << 50, integer=True):
                bad(f"layers[{i}].{key}", "a count")


def _project_readme(summary: dict) -> str:
    return f"""# {summary['model']} — Vitis HLS project generated by qgen

Part `{summary['part']}`, clock {summary['clock_ns']} ns, backend `{summary['backend']}`.

- C-simulation without Xilinx tools: `qgen csim {{this folder}}`
- Timing (cycle-level model of the dataflow, FIFO deadlocks, frame rate): `qgen simulate {{this folder}}`;
  after editing kernels, Vitis cosim: `vitis_hls -f build_prj.tcl -tclargs synth=1 cosim=1 [fifo_sizing=1]`
- Vitis HLS (classic): `vitis_hls -f {summary['tcl']}` (csim + csynth; `-tclargs cosim=1 export=1` for more)
- Vitis 2023.2+: `vitis-run --mode hls --tcl build_prj.tcl`, or the unified flow with `hls_config.cfg`
  (`v++ -c --mode hls --config hls_config.cfg --work_dir quantunet_hls`)
- One layer alone: `vitis_hls -f synth_layer.tcl -tclargs <layer>`
- Resources: `qgen report-resources {{this folder}}` (estimates before synthesis, csynth.xml after)

Per-layer bitwidths, folding and FIFO depths are in `qgen_project.json`; `folding.json` can be
edited and fed back with `qgen hls --folding folding.json`.

I/O: AXI4-Stream in, one word per pixel ({summary['input']['shape'][0]} x {summary['input']['bits']}-bit codes);
AXI4-Stream out, one 32-bit word per pixel: bit 31 = mask, bits 30..0 = logit (two's complement).
"""
