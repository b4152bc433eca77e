"""The timing model (qgen simulate), FIFO sizing from it, and the kernels' II=1 pragmas."""
import json
import re
import shutil

import pytest
from click.testing import CliRunner

from codegen.hls.design import build_design
from codegen.hls.fifo import required_depths
from codegen.hls.folding import Folding
from codegen.pipeline import lower
from codegen.timing.schedule import TimedKernel, TimingModel, model_from_json
from codegen.timing.simulate import STYLES, UNBOUNDED, free_run, simulate
from codegen.timing.sizing import input_period


@pytest.fixture(scope="module")
def project(tiny_project):
    return tiny_project[0]


@pytest.fixture(scope="module")
def design(project, tiny_checkpoint):
    """The project's design, with its folding and the depths it declared."""
    graph = lower(tiny_checkpoint).graph
    folding = Folding.from_json(json.loads((project / "folding.json").read_text()))
    d = build_design(graph, folding)
    declared = {f["name"]: f["depth"] for f in json.loads((project / "schedule.json").read_text())["streams"]}
    for name, depth in declared.items():
        d.streams[name].depth = depth
    return d


@pytest.fixture(scope="module")
def model(project):
    return model_from_json(json.loads((project / "schedule.json").read_text()))


def run_cli(*args):
    from codegen.cli import main
    return CliRunner().invoke(main, [str(a) for a in args])


# ---- one kernel alone ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unfused(design):
    """The same design with every op in a kernel of its own (max-pools and concatenations too)."""
    return build_design(design.graph, design.folding, fuse=False)


@pytest.mark.parametrize("op_type", ["conv", "conv_transpose", "maxpool", "concat", "mask"])
def test_single_kernel_interval_is_its_cycle_count(unfused, op_type):
    design = unfused
    kernel = next(k for k in design.kernels if k.op is not None and k.op.op_type == op_type)
    sched = kernel.schedule(design)
    op = kernel.op
    assert sched.iterations == op.cycles(design.graph, design.folding.get(op.name))
    alone = TimingModel([TimedKernel(kernel.function, [f"in{i}" for i in range(len(kernel.inputs))], ["out"], sched)],
                        {}, {"out"} | {f"in{i}" for i in range(len(kernel.inputs))})
    for style in STYLES:
        result = simulate(alone, frames=3, style=style)
        assert not result.deadlock
        # every iteration issued back to back, then the pipeline drains before the next frame
        assert result.interval_cycles == sched.iterations + sched.depth, (style, op_type)
        assert result.kernels[0]["stall_cycles"] == 0


# ---- skip FIFOs ---------------------------------------------------------------------------------

def test_skip_fifo_below_its_backlog_deadlocks_and_is_named(project, design):
    backlog = required_depths(design)
    assert len(backlog) == 4
    declared = {f["name"]: f["depth"] for f in json.loads((project / "qgen_project.json").read_text())["fifos"]}
    for name, need in backlog.items():
        assert declared[name] >= need          # the C-order backlog is only a lower bound
    name = max(backlog, key=backlog.get)
    for style in STYLES:
        result = run_cli("simulate", project, "--style", style, "--fifo-depth", f"{name}={backlog[name] - 1}", "--json")
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        assert report["deadlock"] is True and report["interval_cycles"] is None
        assert {"kernel": design.producer(name).function, "fifo": name, "state": "full"} in report["blocked"]
    # the generated depths complete in both styles
    for style in STYLES:
        result = run_cli("simulate", project, "--style", style, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["deadlock"] is False


def test_c_order_backlog_alone_serialises_frames(design, model):
    """Skip FIFOs at exactly the C-order backlog complete, but frame f+1 cannot enter until frame f
    has left them: the frame rate collapses. The generated depths let frames overlap."""
    backlog = required_depths(design)
    depths = {n: backlog.get(n, model.depths[n]) for n in model.depths}
    for style in STYLES:
        tight = simulate(model, style=style, depths=depths)
        generated = simulate(model, style=style)
        assert not tight.deadlock
        assert tight.interval_cycles > 1.5 * generated.interval_cycles


def test_every_fifo_completes_at_generated_depths_and_peaks_fit(model):
    for style in STYLES:
        result = simulate(model, style=style, frames=3)
        assert not result.deadlock and result.blocked == []
        assert all(f["peak"] <= f["depth"] for f in result.fifos)
        slowest = max(k.schedule.frame_cycles for k in model.kernels)
        assert slowest <= result.interval_cycles <= 1.05 * slowest


def test_closed_form_free_run_agrees_with_the_event_model(model):
    """FIFO sizing solves the unbounded model in closed form; the coroutine model must agree."""
    unbounded = dict.fromkeys(model.depths, UNBOUNDED)
    for style in STYLES:
        args = dict(frames=3, style=style, input_period=input_period(model), depth_factor=2, depth_add=4)
        fast, slow = free_run(model, **args), simulate(model, depths=unbounded, **args)
        assert fast.frame_done == slow.frame_done
        assert [f["peak"] for f in fast.fifos] == [f["peak"] for f in slow.fifos]


def test_right_sizing_keeps_the_interval_and_no_fifo_can_go_a_step_lower(model, monkeypatch):
    """Right-sizing from over-sized depths: the result keeps the interval of the over-sized design in
    both styles (with the sizing margin), and lowering any FIFO one more step loses it. With every
    FIFO's floor at that answer, one run settles them all and gives the same answer."""
    import codegen.timing.sizing as sizing
    oversized = {name: 4 * depth + 100 for name, depth in model.depths.items()}
    frames = 3
    result = sizing.right_sized(model, oversized, frames, {})
    margin = dict(frames=frames + 2, depth_factor=sizing.READ_AHEAD_FACTOR, depth_add=sizing.READ_AHEAD_STAGES)
    target = {style: simulate(model, style=style, depths=oversized, **margin).interval_cycles for style in STYLES}

    def keeps(depths):
        runs = [simulate(model, style=style, depths=depths, **margin) for style in STYLES]
        return all(not r.deadlock and r.interval_cycles <= target[r.style] for r in runs)

    assert keeps(result)
    assert any(result[n] < oversized[n] for n in oversized)
    for name, depth in result.items():
        lower = [d for d in sizing._steps(2, oversized[name]) if d < depth]
        if lower:
            assert not keeps({**result, name: lower[-1]}), f"{name} keeps the interval at {lower[-1]} < {depth}"

    runs = []
    monkeypatch.setattr(sizing, "simulate", lambda *a, **k: runs.append(k["style"]) or simulate(*a, **k))
    assert sizing.right_sized(model, oversized, frames, result) == result
    assert len(runs) <= 2 * len(STYLES)       # the target runs and one check of every FIFO at once


# ---- the transposed conv's producer -------------------------------------------------------------

def test_transposed_conv_with_depth2_fifo_stalls_its_producer(design, model):
    """A transposed conv reads in bursts (only on even output rows): behind a depth-2 FIFO its
    producer stalls. At the generated depth the producer may still wait now and then, but the frame
    rate is that of an unbounded FIFO (sizing keeps the interval, not every stall cycle away)."""
    stalled = []
    for kernel in design.kernels:
        if kernel.op is None or kernel.op.op_type != "conv_transpose":
            continue
        fifo = kernel.inputs[0]
        producer = design.producer(fifo).function
        for style in STYLES:
            generated = simulate(model, style=style)
            unbounded = simulate(model, style=style, depths={fifo: UNBOUNDED})
            assert generated.interval_cycles <= unbounded.interval_cycles, (kernel.function, style)
            shallow = simulate(model, style=style, depths={fifo: 2})
            if shallow.stalled_on(producer, fifo, "full") > 0:
                stalled.append((kernel.function, style, shallow.interval_cycles, generated.interval_cycles))
    assert stalled, "no transposed conv stalled its producer behind a depth-2 FIFO"
    # whether the stall also lengthens the frame depends on which layer the fitter made the slowest
    assert all(shallow >= generated for _, _, shallow, generated in stalled)


# ---- pragmas that make II=1 hold ----------------------------------------------------------------

def test_pipelines_are_flushable_and_buffers_declare_their_dependence(project, design):
    layers = project / "firmware" / "layers"
    pipelines = 0
    for path in layers.glob("*.cpp"):
        text = path.read_text()
        for line in re.findall(r"#pragma HLS PIPELINE[^\n]*", text, flags=re.IGNORECASE):
            pipelines += 1
            assert "II=1" in line and "style=flp" in line, (path.name, line)
    assert pipelines == len(design.kernels)
    storages = set()
    for kernel in design.kernels:
        text = (project / kernel.source).read_text()
        for buffer in kernel.carried_buffers(design):
            storages.add(buffer.storage)
            pragmas = re.findall(rf"#pragma HLS DEPENDENCE variable={buffer.array}\b[^\n]*", text)
            expected = {"independent": [f"#pragma HLS DEPENDENCE variable={buffer.array} inter false"],
                        "distance": [f"#pragma HLS DEPENDENCE variable={buffer.array} inter true "
                                     f"distance={buffer.distance}"],
                        "registers": []}[buffer.storage]
            assert pragmas == expected, (kernel.function, buffer)
            if buffer.storage == "independent":     # the comment states the computed figures
                assert f"{buffer.distance} iterations later" in text and str(buffer.bound) in text
            if buffer.storage == "registers":
                assert re.search(rf"ARRAY_PARTITION variable={buffer.array} complete dim=[01]\b", text)
    assert "independent" in storages


def test_axis_header_is_the_real_one_under_synthesis(project):
    common = (project / "firmware" / "qgen_common.h").read_text()
    assert re.search(r"#if defined\(__SYNTHESIS__\)\s*\n#include <ap_axi_sdata.h>", common)
    assert "syn.csimflags=" in (project / "hls_config.cfg").read_text()


# ---- the command and its input file -------------------------------------------------------------

def test_simulate_json_report(project):
    result = run_cli("simulate", project, "--frames", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"deadlock", "blocked", "interval_cycles", "fps", "frames", "fifos", "kernels"}
    assert report["frames"] == 2 and report["blocked"] == []
    assert all(set(f) == {"name", "depth", "peak"} for f in report["fifos"])
    assert all(set(k) == {"name", "busy_cycles", "stall_cycles"} for k in report["kernels"])
    summary = json.loads((project / "qgen_project.json").read_text())
    assert summary["interval_cycles"] == summary["timing"]["interval_cycles"]    # steady state, more frames
    assert abs(report["interval_cycles"] - summary["interval_cycles"]) <= 0.05 * summary["interval_cycles"]
    text = run_cli("simulate", project)
    assert text.exit_code == 0 and "completed 2 frames" in text.output
    bad = run_cli("simulate", project, "--fifo-depth", "nope=3")
    assert bad.exit_code == 2 and "no FIFO named 'nope'" in bad.output


@pytest.mark.parametrize("corrupt, message", [
    (lambda d: "{not json", "not valid JSON"),
    (lambda d: {**d, "format": "x"}, "not a qgen schedule"),
    (lambda d: {**d, "streams": [{**d["streams"][0], "depth": -4}] + d["streams"][1:]}, "depth of"),
    (lambda d: {**d, "kernels": [{**d["kernels"][1], "writes": [[[0, 1, 3]]]}] + d["kernels"][:1] + d["kernels"][2:]},
     "tokens written per frame"),
    (lambda d: {**d, "kernels": [{**d["kernels"][0], "reads": [[[0, 1, 10 ** 12]]]}] + d["kernels"][1:]},
     "count must be an integer"),
    (lambda d: {**d, "kernels": d["kernels"] + [d["kernels"][0]]}, "declared twice"),
    (lambda d: {**d, "kernels": [{**d["kernels"][0], "inputs": ["ghost"]}] + d["kernels"][1:]}, "undeclared stream"),
])
def test_hostile_schedule_file_gives_one_line_error(project, tmp_path, corrupt, message):
    copy = tmp_path / "prj"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("tb_data", "firmware"))
    data = json.loads((copy / "schedule.json").read_text())
    bad = corrupt(data)
    (copy / "schedule.json").write_text(bad if isinstance(bad, str) else json.dumps(bad))
    result = run_cli("simulate", copy)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


# ---- both storage branches of the constant arrays -------------------------------------------------

def test_csim_with_synthesis_storage_types_is_bit_exact(tmp_path):
    """-DQGEN_SYNTH_STORAGE compiles the ap_int ROM types of synthesis; the values must not change.
    A small random model (nearest up-sampling, so the up-sample kernel is covered too) keeps the
    ap_int initialisers few enough for g++."""
    from codegen.csim import run_gxx

    from .randomized import Variant, random_model, save_as_checkpoint
    model, _ = random_model(Variant(seed=7, base_width=2, depth=2, input_size=16, upsample="nearest"))
    ckpt = save_as_checkpoint(model, tmp_path / "small.pt")
    out = tmp_path / "prj"
    result = run_cli("hls", "--model", ckpt, "--part", "xc7z020", "--out", out, "--images", "1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "qgen_project.json").read_text())
    manifest["defines"] = {**manifest.get("defines", {}), "QGEN_SYNTH_STORAGE": 1}
    (out / "qgen_project.json").write_text(json.dumps(manifest))
    report = run_gxx(out)
    assert report["passed"], report
    header = next((out / "firmware" / "layers").glob("*.h")).read_text()
    assert "#if defined(__SYNTHESIS__) || defined(QGEN_SYNTH_STORAGE)" in header


# ---- the AXI input honours TLAST --------------------------------------------------------------------

def test_input_kernel_resynchronises_after_a_short_frame(project, design, tmp_path):
    """A frame whose TLAST comes early is zero-filled; the next frame starts with the next word."""
    import subprocess

    from codegen.toolchain import ap_types_dir, find_compiler
    reader = next(k for k in design.kernels if k.function == "read_input")
    pixels = reader.context["H"] * reader.context["W"]
    short = 5
    driver = tmp_path / "driver.cpp"
    driver.write_text(f"""
#include <cstdio>
#include "quantunet_types.h"
#include "layers/read_input.cpp"
int main() {{
    hls::stream<axis_in_t> in;
    hls::stream<input_pixel_t> out;
    for (int p = 0; p < {short}; p++) {{           // a short frame: TLAST on word {short - 1}
        axis_in_t w; w.data = 1 + p; w.keep = -1; w.strb = -1; w.last = (p == {short - 1});
        in.write(w);
    }}
    for (int p = 0; p < {pixels}; p++) {{          // a full frame
        axis_in_t w; w.data = 100 + p % 100; w.keep = -1; w.strb = -1; w.last = (p == {pixels - 1});
        in.write(w);
    }}
    read_input(in, out);
    read_input(in, out);
    int bad = !in.empty();
    for (int p = 0; p < {pixels}; p++) {{ int v = out.read().ch[0]; bad += v != (p < {short} ? 1 + p : 0); }}
    for (int p = 0; p < {pixels}; p++) {{ int v = out.read().ch[0]; bad += v != 100 + p % 100; }}
    std::printf("%d\\n", bad);
    return bad != 0;
}}
""")
    exe = tmp_path / "driver"
    subprocess.run([find_compiler(), "-std=c++14", "-O0", f"-I{ap_types_dir()}", f"-I{project / 'firmware'}",
                    str(driver), "-o", str(exe)], check=True, capture_output=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "0", result.stdout


def test_steady_interval_is_the_longest_gap_after_the_first_frame():
    """A design alternating fast and slow frames keeps up with the slow gap only; the last gap alone
    (9,241 after 38,021 in a right-sizing that once went wrong) would hide it."""
    from codegen.timing.simulate import steady_interval
    assert steady_interval([100, 9341, 47362, 56603]) == 38021
    assert steady_interval([100, 150, 200, 250]) == 50
    assert steady_interval([100, 180]) == 80 and steady_interval([70]) == 70


# ---- 1-deep FIFOs where a requested frame rate leaves time to spare ---------------------------------

@pytest.fixture(scope="module")
def slow_project(tiny_checkpoint, tiny_project, tmp_path_factory):
    """The tiny checkpoint built for a third of its fitted rate: FIFOs may slow it down to that."""
    from codegen.cli import main

    fps = round(tiny_project[1]["timing"]["fps"] / 3)
    out = tmp_path_factory.mktemp("slow") / "prj"
    result = CliRunner().invoke(main, ["hls", "--model", str(tiny_checkpoint), "--target-fps", str(fps),
                                       "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, fps


def test_a_requested_rate_buys_one_deep_fifos_that_keep_it(slow_project, tiny_checkpoint):
    """With --target-fps, right-sizing may slow the design down to the requested rate: FIFOs go
    1 deep (a register) where the model, with the sizing margin, still reaches it in both styles.
    Each saves LUTs and no BRAM; skip FIFOs keep their backlog; the reported rate is still >= F."""
    import codegen.timing.sizing as sizing
    from codegen.hls.fifo import fifo_cost

    out, fps = slow_project
    summary = json.loads((out / "qgen_project.json").read_text())
    model = model_from_json(json.loads((out / "schedule.json").read_text()))
    ones = [name for name, depth in model.depths.items() if depth == 1]
    assert ones, model.depths
    assert summary["timing"]["fps"] >= fps
    margin = dict(frames=4, depth_factor=sizing.READ_AHEAD_FACTOR, depth_add=sizing.READ_AHEAD_STAGES)
    for style in STYLES:
        run = simulate(model, style=style, **margin)
        assert not run.deadlock and run.interval_cycles <= sizing.interval_for_fps(fps, 10.0)
    graph = lower(tiny_checkpoint).graph
    design = build_design(graph, Folding.from_json(json.loads((out / "folding.json").read_text())))
    cost = fifo_cost(design)
    assert not set(ones) & set(required_depths(design))
    for name in ones:
        (_, (lut, _, bram)), (_, (lut1, _, bram1)) = cost(name, 2), cost(name, 1)
        assert lut1 < lut and bram1 <= bram
    text = (out / "firmware" / "quantunet.cpp").read_text()
    assert all(re.search(rf"STREAM variable={n} depth=1\b", text) for n in ones)
    assert not any(re.search(rf"BIND_STORAGE variable={n} ", text) for n in ones)   # a register: no FIFO memory


def test_without_a_requested_rate_no_fifo_is_one_deep(model):
    assert min(model.depths.values()) >= 2


def test_one_deep_fifos_run_bit_exact_in_threads(slow_project):
    """The threaded run (bounded FIFOs, real kernels) completes at the declared 1-deep FIFOs."""
    result = run_cli("csim", slow_project[0], "--threaded", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["passed"] and not report["deadlock"], report


def test_one_deep_search_takes_a_bounded_number_of_runs(model, monkeypatch):
    """Each FIFO the search settles costs about log2(n) runs; it never takes more than ONE_DEEP_CHECKS."""
    import codegen.timing.sizing as sizing
    checks = []

    def keeps(depths):
        checks.append(depths)
        return sum(d == 1 for d in depths.values()) <= 2       # any two FIFOs, no third
    names = sorted(model.depths)
    price = lambda name, depth: (10.0, (2, 9, 0)) if depth == 1 else (100.0, (100, 4, 0))     # noqa: E731
    result = sizing.one_deep(dict.fromkeys(names, 8), {}, price, keeps)
    assert sum(d == 1 for d in result.values()) == 2 and len(checks) <= sizing.ONE_DEEP_CHECKS
