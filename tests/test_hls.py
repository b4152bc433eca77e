"""The template backend: project generation, lint, FIFO depths, template editing, and C-simulation."""
import json
import os
import re
import shutil

import jinja2
import jinja2.meta
import pytest

from codegen.errors import QgenError
from codegen.hls.design import build_design
from codegen.hls.fifo import assign_depths, required_depths
from codegen.hls.folding import Folding, LayerFold, fully_folded, mult_choices
from codegen.hls.render import TCL_DIR, TEMPLATES_DIR
from codegen.parts import PARTS, resolve_part
from codegen.pipeline import lower

from .randomized import randomised_tiny, save_as_checkpoint


@pytest.fixture(scope="module")
def project(tiny_project):
    return tiny_project


def test_hls_json_summary_and_layout(project):
    out, summary = project
    assert summary["project"] == str(out) and summary["part"] == "xc7z020clg400-1"
    assert summary["backend"] == "templates"
    assert len(summary["layers"]) == 23
    assert {"name", "weight_bits", "in_bits", "out_bits", "acc_bits"} <= set(summary["layers"][0])
    for rel in ("build_prj.tcl", "hls_config.cfg", "synth_layer.tcl", "folding.json", "qgen_project.json",
                "firmware/quantunet.cpp", "firmware/quantunet_types.h", "firmware/qgen_common.h",
                "firmware/layers/enc1_conv1.cpp", "firmware/layers/enc1_conv1.h", "tb/tb_quantunet.cpp",
                "tb_data/manifest.json", "tb_data/input.bin"):
        assert (out / rel).is_file(), rel


def test_kernel_types_follow_the_learned_bitwidths(project, tiny_checkpoint):
    out, summary = project
    graph = lower(tiny_checkpoint).graph
    for row in summary["layers"]:
        op = graph.op(row["name"])
        header = (out / "firmware" / "layers" / f"{row['name']}.h").read_text()
        assert f"typedef ap_int<{op.weight_type.bits}> {row['name']}_weight_t;" in header
        assert f"typedef ap_int<{op.acc_type.bits}> {row['name']}_acc_t;" in header
        y = graph.tensors[op.output]
        types = (out / "firmware" / "quantunet_types.h").read_text()
        assert f"typedef {y.dtype.ctype} {op.output}_t;" in types


def test_tcl_scripts(project):
    out, _ = project
    tcl = (out / "build_prj.tcl").read_text()
    for needle in ("open_project", "set_top quantunet", "add_files firmware/quantunet.cpp",
                   "add_files -tb tb/tb_quantunet.cpp", "open_solution", "set_part {xc7z020clg400-1}",
                   "create_clock -period 10.0", "csim_design", "csynth_design", "cosim_design", "export_design"):
        assert needle in tcl, needle
    cfg = (out / "hls_config.cfg").read_text()
    assert "part=xc7z020clg400-1" in cfg and "syn.top=quantunet" in cfg and "tb.file=tb/tb_quantunet.cpp" in cfg
    assert "enc1_conv1 firmware/layers/enc1_conv1.cpp" in (out / "synth_layer.tcl").read_text()


def test_top_is_a_dataflow_with_sized_skip_fifos(project):
    out, summary = project
    top = (out / "firmware" / "quantunet.cpp").read_text()
    assert "#pragma HLS DATAFLOW" in top and "INTERFACE axis port=in" in top
    skips = {f["name"]: f["depth"] for f in summary["fifos"] if f["comment"] == "skip connection"}
    assert len(skips) == 4
    for name, depth in skips.items():
        assert f"#pragma HLS STREAM variable={name} depth={depth}" in top


def test_generated_sources_pass_the_synthesizable_subset_lint(project):
    from codegen.hls.lint import lint_project
    out, _ = project
    assert lint_project(out) == []


# ---- FIFO depths -----------------------------------------------------------------------------

def test_skip_fifo_depths_cover_the_backlog_and_complete(tiny_checkpoint):
    """Depths come from the timing model (tests/test_timing.py has the deadlock and stall checks)."""
    from codegen.timing.simulate import STYLES, simulate
    graph = lower(tiny_checkpoint).graph
    design = build_design(graph, fully_folded(graph))
    need = required_depths(design)
    assert len(need) == 4
    sizing = assign_depths(design)
    for name, backlog in need.items():
        assert design.streams[name].depth >= backlog
    model = design.timing_model()
    for style in STYLES:
        assert not sizing.checks[style]["deadlock"]
        # C-simulation with unbounded streams would hide this; the default depth of 2 deadlocks
        assert simulate(model, style=style, depths=dict.fromkeys(model.depths, 2)).deadlock


# ---- parts and folding -----------------------------------------------------------------------

def test_parts_resolve_short_and_full_names():
    assert resolve_part("xc7z020").full == "xc7z020clg400-1"
    assert resolve_part("xczu3eg").full.startswith("xczu3eg")
    assert resolve_part("xcu250").dsp == 12288
    assert resolve_part("xc7z020clg484-1").full == "xc7z020clg484-1"
    with pytest.raises(QgenError, match="unknown part 'xc9000'; known parts: xc7z020"):
        resolve_part("xc9000")
    assert set(PARTS) >= {"xc7z020", "xczu3eg", "xczu7ev", "xcu250"}


def test_folding_validation(tiny_checkpoint):
    graph = lower(tiny_checkpoint).graph
    folding = fully_folded(graph)
    folding.validate(graph)
    bad = Folding(folding)
    bad["enc1_conv2"] = LayerFold(pe=3, simd=1)
    with pytest.raises(QgenError, match=r"layer enc1_conv2: PE=3 must divide its 4 output channels"):
        bad.validate(graph)
    assert Folding.from_json(folding.to_json()) == folding


# ---- errors, atomicity, templates ------------------------------------------------------------

def test_existing_project_needs_force(cli, tiny_checkpoint, project):
    out, _ = project
    result = cli("hls", "--model", tiny_checkpoint, "--out", out)
    assert result.exit_code == 2 and "--force" in result.output


def test_unknown_part_is_a_clear_error(cli, tiny_checkpoint, tmp_path):
    result = cli("hls", "--model", tiny_checkpoint, "--part", "xc9000", "--out", tmp_path / "p")
    assert result.exit_code == 2 and "known parts" in result.output
    assert not (tmp_path / "p").exists()


def _exported(cli, tmp_path):
    folder = tmp_path / "my_templates"
    assert cli("templates", "export", folder).exit_code == 0
    assert (folder / "kernels" / "conv.cpp.j2").is_file() and (folder / "tcl" / "build_prj.tcl.j2").is_file()
    return folder


def test_broken_template_names_file_and_line_and_leaves_nothing(cli, tiny_checkpoint, tmp_path):
    folder = _exported(cli, tmp_path)
    conv = folder / "kernels" / "conv.cpp.j2"
    lines = conv.read_text().splitlines()
    at = next(i for i, l in enumerate(lines) if "if (++sf ==" in l)
    lines[at] = lines[at].replace("{{ SF }}", "{{ SFF }}")
    conv.write_text("\n".join(lines) + "\n")
    result = cli("hls", "--model", tiny_checkpoint, "--templates", folder, "--out", tmp_path / "p")
    assert result.exit_code == 2
    assert f"conv.cpp.j2 line {at + 1}: 'SFF' is undefined" in result.output
    assert not (tmp_path / "p").exists() and not list(tmp_path.glob(".p.*"))

    conv.write_text(conv.read_text().replace("{% if K > 1 %}", "{% if K > 1 "))
    result = cli("hls", "--model", tiny_checkpoint, "--templates", folder, "--out", tmp_path / "p")
    assert result.exit_code == 2 and re.search(r"conv\.cpp\.j2 line \d+:", result.output)


def test_edited_template_is_used_and_linted(cli, tiny_checkpoint, tmp_path):
    folder = _exported(cli, tmp_path)
    output = folder / "kernels" / "output.cpp.j2"
    output.write_text(output.read_text().replace("#include \"../quantunet_types.h\"",
                                                 "#include \"../quantunet_types.h\"\n// edited by a human"))
    assert cli("hls", "--model", tiny_checkpoint, "--templates", folder, "--out", tmp_path / "ok").exit_code == 0
    assert "// edited by a human" in (tmp_path / "ok" / "firmware" / "layers" / "mask.cpp").read_text()
    output.write_text(output.read_text().replace("// edited by a human", "int* scratch = new int[4];"))
    result = cli("hls", "--model", tiny_checkpoint, "--templates", folder, "--out", tmp_path / "bad")
    assert result.exit_code == 2 and "dynamic memory" in result.output and not (tmp_path / "bad").exists()


def _template_files():
    return sorted(list(TEMPLATES_DIR.rglob("*.j2")) + list(TCL_DIR.rglob("*.j2")))


@pytest.mark.parametrize("path", _template_files(), ids=lambda p: p.name)
def test_every_template_variable_is_documented_at_the_top(path):
    env = jinja2.Environment()
    text = path.read_text()
    header = re.match(r"\{#-?(.*?)-?#\}", text, re.S)
    assert header, f"{path.name} has no documentation comment at the top"
    used = jinja2.meta.find_undeclared_variables(env.parse(text)) - {"range", "loop"}
    undocumented = [v for v in used if not re.search(rf"\b{v}\b", header.group(1))]
    assert not undocumented, f"{path.name}: undocumented variables {undocumented}"


# ---- C-simulation ----------------------------------------------------------------------------

def test_csim_passes_bit_exactly(cli, project):
    out, _ = project
    result = cli("csim", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] and report["mismatches"] == 0
    names = [r["name"] for r in report["layers"]]
    assert "enc1_conv1" in names and "end_to_end.logits" in names and "end_to_end.mask" in names
    assert all(r["elements"] > 0 for r in report["layers"])


def test_csim_reports_the_first_mismatch(cli, project, tmp_path):
    out, _ = project
    copy = tmp_path / "prj"
    shutil.copytree(out, copy)
    golden = copy / "tb_data" / "enc2_conv1.bin"
    data = bytearray(golden.read_bytes())
    data[4 * 5] ^= 1                     # flip the lowest bit of element 5 of image 0
    golden.write_bytes(bytes(data))
    result = cli("csim", copy, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    row = next(r for r in report["layers"] if r["name"] == "enc2_conv1")
    assert not report["passed"] and row["mismatches"] == 1 and row["first_mismatch"]["index"] == 5


def test_csim_shards_report_as_one_run(project, tmp_path):
    """Checks split over processes give the report of one process, mismatches included; a testbench
    edited to ignore its shard arguments is not counted twice."""
    from codegen.csim import run_gxx
    out, _ = project
    copy = tmp_path / "prj"
    shutil.copytree(out, copy)
    golden = copy / "tb_data" / "enc2_conv1.bin"
    data = bytearray(golden.read_bytes())
    data[4 * 7] ^= 2
    golden.write_bytes(bytes(data))
    drop = ("run_seconds", "compile_seconds")
    runs = [{k: v for k, v in run_gxx(copy, shards=n).items() if k not in drop} for n in (1, 2, 3, 8)]
    assert runs[0]["mismatches"] >= 1 and not runs[0]["passed"]
    assert all(r == runs[0] for r in runs[1:])
    tb = copy / "tb" / "tb_quantunet.cpp"
    text = tb.read_text()
    deaf = text.replace("argc == 3 ? std::atoi(argv[1]) : 0", "0").replace("argc == 3 ? std::atoi(argv[2]) : 1", "1")
    deaf = deaf.replace('std::printf("QGEN_SHARD %d %d\\n", shard, shards);', "")
    assert deaf.count("QGEN_SHARD") == 0 and "const int shards = 1;" in deaf
    tb.write_text(deaf)
    assert {k: v for k, v in run_gxx(copy, shards=2).items() if k not in drop} == runs[0]


def test_csim_cache_is_keyed_on_content_not_time_stamps(cli, project, tmp_path):
    """A kernel edited to be wrong and dated back to 2020 must be recompiled (and fail)."""
    out, _ = project
    copy = tmp_path / "prj"
    shutil.copytree(out, copy)
    assert cli("csim", copy).exit_code == 0          # objects cached
    kernel = copy / "firmware" / "layers" / "mask.cpp"
    text = kernel.read_text()
    wrong = text.replace("out.write(", "out.write(~", 1) if "out.write(" in text else None
    assert wrong and wrong != text
    kernel.write_text(wrong)
    old = 1577836800                                # 2020-01-01, older than every cached object
    os.utime(kernel, (old, old))
    result = cli("csim", copy, "--json")
    assert result.exit_code != 0 or not json.loads(result.stdout)["passed"]


def test_csim_errors(cli, tmp_path, monkeypatch, project):
    result = cli("csim", tmp_path)
    assert result.exit_code == 2 and "not a qgen project" in result.output
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    result = cli("csim", project[0])
    assert result.exit_code == 2 and "g++ not found" in result.output
    monkeypatch.setenv("PATH", str(tmp_path))
    result = cli("csim", project[0], "--tool", "vitis")
    assert result.exit_code == 2 and "vitis_hls or vitis-run" in result.output


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_csim_is_bit_exact_for_random_bitwidths(cli, tmp_path, seed):
    """Bitwidths across the whole 2..8 range, weights and activations; seeds 0/1 pin the ends."""
    bits = {0: [2] * 45, 1: [8] * 45}.get(seed)
    model, chosen = randomised_tiny(100 + seed, bits)
    ckpt = save_as_checkpoint(model, tmp_path / f"random{seed}.pt")
    out = tmp_path / "prj"
    assert cli("hls", "--model", ckpt, "--out", out, "--images", "1").exit_code == 0
    result = cli("csim", out, "--json")
    report = json.loads(result.stdout)
    assert report["passed"], [r for r in report["layers"] if r["mismatches"]]


@pytest.mark.parametrize("bits", [2, 8])
def test_dsp_packed_pairs_are_bit_exact_at_both_ends_of_the_widths(cli, tmp_path, bits):
    """mult dsp2 (two PEs' products from one DSP, kernels/mac_product.j2) in every template that
    multiplies (conv with the window in memory and in registers, transposed conv, head), with the
    widest and narrowest products, the extreme weights included: C-simulation is bit-exact. (At 8
    bits a concatenation's 9-bit codes make products too wide to pack: those layers stay in LUTs.)"""
    model, _ = randomised_tiny(200 + bits, [bits] * 45)
    ckpt = save_as_checkpoint(model, tmp_path / "packed.pt")
    graph = lower(ckpt).graph
    folding = Folding()
    for i, op in enumerate(graph.weighted_ops):
        out_ch, window = op.fold_dims()
        assert out_ch % 2 == 0 or op.thresholds is None
        pe = 2 if out_ch % 2 == 0 else 1
        simd = window if i % 2 else 1         # every other layer: the register window (lanes span taps)
        folding[op.name] = LayerFold(pe, simd, "dsp2" if "dsp2" in mult_choices(op, graph, pe) else "lut")
    packed = [n for n, f in folding.items() if f.mult == "dsp2"]
    assert {graph.op(n).op_type for n in packed} >= {"conv", "conv_transpose"}
    path = tmp_path / "folding.json"
    path.write_text(json.dumps(folding.to_json()))
    out = tmp_path / "prj"
    result = cli("hls", "--model", ckpt, "--out", out, "--images", "1", "--folding", path)
    assert result.exit_code == 0, result.output
    kernels = {f.stem: f.read_text() for f in (out / "firmware" / "layers").glob("*.cpp")}
    assert all("op=mul impl=dsp" in kernels[n] and "pair_high" in kernels[n] for n in packed)
    report = json.loads(cli("csim", out, "--json").stdout)
    assert report["passed"], [r for r in report["layers"] if r["mismatches"]]


def test_dsp2_needs_even_pe_and_packable_products(tiny_checkpoint, project):
    graph = lower(tiny_checkpoint).graph
    folding = Folding.from_json(json.loads((project[0] / "folding.json").read_text()))
    op = graph.weighted_ops[0]
    odd = Folding({**folding, op.name: LayerFold(1, 1, "dsp2")})
    with pytest.raises(QgenError, match="needs an even PE"):
        odd.validate(graph)
    Folding({**folding, op.name: LayerFold(2, 1, "dsp2")}).validate(graph)


def test_fused_kernels_cost_less_and_both_designs_are_bit_exact(cli, project, tiny_checkpoint, tmp_path):
    """Max-pools, concatenations and fan-out run inside the conv kernels (hls/design.py); --no-fuse
    gives every op a kernel of its own. At the same folding the fused design costs less and both
    C-simulate bit-exactly."""
    out, _ = project
    unfused = tmp_path / "unfused"
    result = cli("hls", "--model", tiny_checkpoint, "--out", unfused, "--no-fuse", "--folding", out / "folding.json")
    assert result.exit_code == 0, result.output

    def kernels(p):
        return {f.stem for f in (p / "firmware" / "layers").glob("*.cpp")}

    assert not {k for k in kernels(out) if k.startswith(("pool", "concat", "split_", "head"))}
    assert {"pool1", "concat1", "split_enc1_conv2", "head"} <= kernels(unfused)
    fused_total = json.loads((out / "resources_estimate.json").read_text())["total"]
    unfused_total = json.loads((unfused / "resources_estimate.json").read_text())["total"]
    assert fused_total["lut"] < unfused_total["lut"] and fused_total["ff"] < unfused_total["ff"]
    assert fused_total["bram_18k"] <= unfused_total["bram_18k"]
    result = cli("csim", unfused, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["passed"]


def test_the_head_runs_inside_the_last_conv_at_an_aligned_folding(cli, project, tiny_checkpoint, tmp_path):
    """The fitter folds the head as its producer's epilogue (PE = its outputs, SIMD = the producer's
    PE: kernels/head_step.j2), so it needs no kernel or FIFO; a folding file that folds it otherwise
    keeps its own kernel (kernels/head.cpp.j2), bit-exact as well."""
    from codegen.hls.folding import Folding, LayerFold

    out, _ = project
    folding = Folding.load(out / "folding.json")
    graph = lower(tiny_checkpoint).graph
    head = next(op for op in graph.weighted_ops if op.name == "head")
    host = next(op for op in graph.ops if op.output == head.inputs[0])
    assert (folding["head"].pe, folding["head"].simd) == (1, folding[host.name].pe)
    assert not (out / "firmware" / "layers" / "head.cpp").exists()
    assert '#include "head.h"' in (out / "firmware" / "layers" / f"{host.name}.cpp").read_text()
    names = {r["name"] for r in json.loads((out / "resources_estimate.json").read_text())["layers"]}
    assert "head" not in names and host.name in names

    channels = graph.tensors[head.inputs[0]].channels
    simd = next(s for s in range(1, channels + 1) if channels % s == 0 and s != folding[host.name].pe)
    folding["head"] = LayerFold(1, simd, "lut")
    (tmp_path / "f.json").write_text(json.dumps(folding.to_json()))
    own = tmp_path / "own"
    result = cli("hls", "--model", tiny_checkpoint, "--out", own, "--folding", tmp_path / "f.json", "--images", "1")
    assert result.exit_code == 0, result.output
    assert (own / "firmware" / "layers" / "head.cpp").exists()
    result = cli("csim", own, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["passed"]
