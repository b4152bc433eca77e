"""report-resources: csynth.xml parsing, hand-checked estimates, fitting the part."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from codegen.errors import QgenError
from codegen.hls.folding import LayerFold
from codegen.ir.graph import Graph, InputQuant
from codegen.ir.tensor import Tensor
from codegen.ir.types import IntType
from codegen.ops import Conv, Thresholds
from codegen.resources import formulas
from codegen.resources.csynth import find_report, parse
from codegen.resources.fit import Fitter, fit_folding, folding_for_fps
from codegen.parts import resolve_part
from codegen.pipeline import lower

FIXTURES = Path(__file__).parent / "fixtures" / "csynth"
EXAMPLE = Path(__file__).parents[1] / "examples" / "wearable_quantunet.pt"


# ---- csynth.xml ------------------------------------------------------------------------------

def test_parse_classic_layout_with_dsp():
    report = find_report(FIXTURES / "classic")
    assert report.parts[-4:] == ("solution1", "syn", "report", "csynth.xml")
    top = parse(report)
    assert top["name"] == "quantunet" and top["part"] == "xc7z020-clg400-1" and top["version"] == "2020.2"
    assert top["resources"] == {"lut": 25000, "ff": 30000, "dsp": 40, "bram_18k": 120, "uram": 0}
    assert top["available"]["dsp"] == 220 and top["clock_ns"] == 10.0 and top["estimated_clock_ns"] == 7.3
    assert (top["latency_best"], top["latency_worst"], top["interval_max"]) == (120000, 125000, 100000)


def test_parse_unified_layout_with_dsp48e_and_undef():
    top = parse(find_report(FIXTURES / "unified"))
    assert top["resources"]["dsp"] == 1000 and top["available"]["dsp"] == 1728
    assert top["interval_max"] is None and top["latency_worst"] is None
    assert top["resources"]["uram"] == 4


def test_report_resources_reads_csynth(cli, tmp_path):
    result = cli("report-resources", "--csynth",
                 FIXTURES / "classic" / "quantunet_prj" / "solution1" / "syn" / "report" / "csynth.xml", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["source"] == "csynth" and report["fits"]
    assert report["fps"] == pytest.approx(1000.0)          # interval 100000 cycles at 10 ns
    assert [r["name"] for r in report["layers"]] == ["enc1_conv1"]
    for key in ("part", "clock_ns", "layers", "total", "available", "fits", "fps"):
        assert key in report
    result = cli("report-resources", "--csynth",
                 FIXTURES / "unified" / "quantunet_hls" / "quantunet" / "hls" / "syn" / "report" / "csynth.xml")
    assert result.exit_code == 0 and "frame rate unknown" in result.output


@pytest.mark.parametrize("content", ["<profile><AreaEstimates><Resources><LUT>1", "not xml at all", "<other/>"])
def test_malformed_csynth_is_a_clear_error(cli, tmp_path, content):
    bad = tmp_path / "csynth.xml"
    bad.write_text(content)
    result = cli("report-resources", "--csynth", bad)
    assert result.exit_code == 2 and "csynth" in result.output and "Traceback" not in result.output


def test_project_prefers_a_csynth_report_over_the_estimate(cli, tiny_checkpoint, tmp_path):
    out = tmp_path / "prj"
    assert cli("hls", "--model", tiny_checkpoint, "--out", out, "--part", "xczu7ev").exit_code == 0
    estimate = json.loads(cli("report-resources", out, "--json").stdout)
    assert estimate["source"] == "estimate" and estimate["part"] == "xczu7ev-ffvc1156-2-e"
    shutil.copytree(FIXTURES / "classic" / "quantunet_prj", out / "quantunet_prj")
    real = json.loads(cli("report-resources", out, "--json").stdout)
    assert real["source"] == "csynth" and real["total"]["lut"] == 25000


# ---- estimates -------------------------------------------------------------------------------

def test_bram_packing_follows_finn():
    assert formulas.bram18_for(1, 16384) == 1
    assert formulas.bram18_for(4, 4096) == 1 and formulas.bram18_for(8, 4096) == 2   # 9-bit mode, 2K deep
    assert formulas.bram18_for(36, 512) == 1 and formulas.bram18_for(72, 512) == 2
    assert formulas.bram18_for(18, 1025) == 2
    assert formulas.ram(8, 2) == formulas.Cost(ff=16)                          # registers
    assert formulas.ram(24, 128) == formulas.Cost(lut=48, ff=24)               # RAM128X1S per bit (Yosys)
    assert formulas.ram(64, 512) == formulas.Cost(bram_18k=2)                  # one RAMB36E1 (Yosys)
    assert formulas.fifo(16, 1000).bram_18k == 1


def test_multiplier_costs():
    assert formulas.lut_multiplier(2, 3) == 5           # narrow-range 2-bit weights: 2A - 1 (Yosys: 5)
    assert formulas.lut_multiplier(5, 2) == 10          # two partial products (Yosys: 10)
    assert formulas.lut_multiplier(8, 8) == pytest.approx(111, rel=0.15)       # Yosys: 111
    assert formulas.lut_multiplier(8, 8) > 2 * formulas.lut_multiplier(4, 4)   # follows W*A, not W+A
    assert formulas.dsp_multiplier(8, 8) == 1 and formulas.dsp_multiplier(25, 17) == 1
    assert formulas.dsp_multiplier(26, 8) == 2


def test_hand_checked_conv_estimate():
    # 3x3 conv 2 -> 4 channels on 8x8, 4-bit input, 3-bit weights, 2-bit output; PE=2, SIMD=6:
    # NF = 2 neuron folds, SF = 18 / 6 = 3 synapse folds
    g = Graph("t", InputQuant(IntType(4, False, 0)), Tensor.full_range("input", (2, 8, 8), IntType(4, False, 0)))
    weights = np.arange(72).reshape(4, 2, 3, 3) % 7 - 3
    thresholds = Thresholds([[0, 5, 9]] * 4, IntType(2, False, 0))
    g.add(Conv("c", ["input"], weights=weights, weight_type=IntType(3, True, 0), thresholds=thresholds))
    op = g.op("c")
    acc, thr = op.acc_type.bits, thresholds.dtype.bits
    fold = LayerFold(pe=2, simd=6, mult="lut")
    parts = op.estimate(g, fold).parts
    F = formulas
    assert parts["multipliers"] == 12 * F.Cost(lut=F.lut_multiplier(3, 4))    # PE x SIMD 3x4-bit products
    assert parts["adders"] == 2 * F.adder_tree(7, 6, acc)                       # per PE: 6 products of 7 bits
    # tree: three 8-bit adders, then 9 bits (two of them), then 10 bits (with the third); n - 1 LUTs each
    assert F.adder_tree(7, 6, acc) == F.Cost(lut=(8 - 1) * 3 + (9 - 1) + (10 - 1) + acc, ff=acc)
    assert parts["thresholds"] == 2 * F.threshold_search(2, 2, thr)             # 2 levels, NF = 2
    assert parts["weights"] == F.rom(2 * 6 * 3, 2 * 3)                          # 6 words of 36 bits
    assert parts["line_buffer"] == F.ram(8, 8) + F.ram(8, 8)                    # two rows of 8 pixels x 8 bits
    assert parts["window"] == F.window_mux(24, 3) + F.Cost(lut=3 * 2 * 4, ff=18 * 4 + 4 * 2)
    assert parts["control"] == F.control() and parts["fifo"] == F.Cost()
    cost = op.estimate(g, fold)
    assert cost.rounded()["lut"] == sum(p.rounded()["lut"] for p in parts.values())
    assert cost.dsp == 0 and cost.bram_18k == 0
    dsp = op.estimate(g, LayerFold(2, 6, "dsp"))
    assert dsp.dsp == 12 and dsp.parts["multipliers"].lut == 0 and dsp.parts["multipliers"].ff == 0
    # 64 producing positions of NF x SF = 6 iterations, 17 padding positions of one
    assert op.cycles(g, fold) == 8 * 8 * 2 * 3 + (9 * 9 - 8 * 8)
    # SIMD = 2 divides the 2 input channels: the window is read from the memory of the last 3 rows
    memory = op.estimate(g, LayerFold(pe=2, simd=2, mult="lut")).parts
    assert memory["line_buffer"] == F.dual_port_ram(2 * 4, 3 * 8)[0]          # 24 pixels of 2 x 4 bits
    assert memory["window"] == F.window_mux(2 * 4, 1) + F.Cost(ff=4 * 2)      # one channel group: no mux
    assert memory["address"] == F.window_address(8, 8, 3, 1)
    assert op.cycles(g, LayerFold(2, 2)) == 8 * 8 * 2 * 9 + (9 * 9 - 8 * 8)
    # SIMD = 1: two channel groups, one word each of the 3 x 8 x 2 words; the held pixel (8 FFs) goes
    # into the memory through a 2:1 multiplexer; positions without output take two iterations
    groups = op.estimate(g, LayerFold(pe=2, simd=1, mult="lut")).parts
    assert groups["line_buffer"] == F.dual_port_ram(4, 3 * 8 * 2)[0]
    assert groups["window"] == F.window_mux(4, 2) + F.Cost(ff=2 * 4 + 4 * 2)
    assert groups["address"] == F.window_address(8, 8, 3, 2)
    assert op.cycles(g, LayerFold(2, 1)) == 8 * 8 * 2 * 18 + (9 * 9 - 8 * 8) * 2
    assert op.schedule(g, LayerFold(2, 1)).iterations == op.cycles(g, LayerFold(2, 1))


# ---- fitting ---------------------------------------------------------------------------------

def test_fit_balances_layers_within_the_budget(tiny_checkpoint):
    graph = lower(tiny_checkpoint).graph
    part = resolve_part("xczu7ev")
    folding = fit_folding(graph, part.resources())
    folding.validate(graph)
    cycles = [op.cycles(graph, folding[op.name]) for op in graph.weighted_ops]
    fully_folded = [op.cycles(graph, LayerFold()) for op in graph.weighted_ops]
    assert max(cycles) < max(fully_folded) / 20


def test_the_search_prices_the_head_with_its_host():
    """The head's lanes follow its host's PE, so the search prices the pair it will build: a pick the
    repair found within budget is never pushed over it afterwards. (Aligned after the search, the
    head made slower intervals fail where faster ones fit on the example, 1 on xc7z020 and 7 on
    xczu2cg, and the bisection for the fastest fitting interval could settle on a slow one.)"""
    graph = lower(EXAMPLE).graph
    base = Fitter(graph, resolve_part("xc7z020").resources())
    assert base.fused, "the example's head runs inside its last conv"
    for part in ("xc7z020", "xczu2cg"):
        fitter = base.for_part(resolve_part(part).resources())
        intervals = [t for t in fitter.candidate_intervals() if t >= fitter.fastest_possible()]
        fits = [fitter.cheapest_fitting(t)[2] for t in intervals]
        first = fits.index(True)
        assert all(fits[first:]), (part, [t for t, ok in zip(intervals[first:], fits[first:]) if not ok])
        folding, _, _ = fitter.cheapest_fitting(intervals[first])
        for host, op in fitter.fused.items():
            assert op.fuses_with(folding[host], folding[op.name])


def test_impossible_requests_say_why(tiny_checkpoint):
    graph = lower(tiny_checkpoint).graph
    tiny_part = {"lut": 2000, "ff": 4000, "dsp": 10, "bram_18k": 10, "uram": 0}
    with pytest.raises(QgenError, match=r"does not fit even fully folded: .*lut [\d,]+ > 1,600"):
        fit_folding(graph, tiny_part)
    with pytest.raises(QgenError, match=r"fastest folding reaches"):
        folding_for_fps(graph, resolve_part("xcu250").resources(), 1e9, 10.0)


def test_target_fps_uses_fewer_resources_than_fit(cli, tiny_checkpoint, tmp_path):
    fast = json.loads(cli("hls", "--model", tiny_checkpoint, "--part", "xczu7ev", "--fit", "--json",
                          "--out", tmp_path / "a").output)
    slow = json.loads(cli("hls", "--model", tiny_checkpoint, "--part", "xczu7ev", "--target-fps", "2000",
                          "--json", "--out", tmp_path / "b").output)
    assert slow["estimate"]["fps"] >= 2000 and slow["estimate"]["fps"] < fast["estimate"]["fps"]
    assert slow["estimate"]["total"]["lut"] < fast["estimate"]["total"]["lut"]
    folding = json.loads((tmp_path / "b" / "folding.json").read_text())
    again = json.loads(cli("hls", "--model", tiny_checkpoint, "--part", "xczu7ev", "--folding",
                           tmp_path / "b" / "folding.json", "--json", "--out", tmp_path / "c").output)
    assert again["layers"] == slow["layers"] and folding["layers"]["enc1_conv1"]["pe"] >= 1


def test_example_fits_the_zynq_7020_and_html(cli, tmp_path):
    out = tmp_path / "example"
    result = cli("hls", "--model", EXAMPLE, "--part", "xc7z020", "--fit", "--json", "--out", out, "--images", "1")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["estimate"]["fits"]
    html = tmp_path / "r.html"
    result = cli("report-resources", out, "--json", "--html", html)
    report = json.loads(result.stdout)
    assert report["fits"] and report["source"] == "estimate" and report["fps"] > 0
    page = html.read_text()
    assert "data:image/png;base64," in page and "fits" in page


def test_a_one_deep_fifo_is_a_register_without_data_luts():
    """Vitis's fifo_w*_d1_S: one shift-register stage (nothing selects the output): a valid bit's
    LUTs and one FF per bit (calibration: fifo, depth 1, exact on 5 widths), against one LUT per bit
    for 2 deep (output multiplexer) and up to 32 deep (SRL)."""
    for width in (8, 64, 256):
        one = formulas.fifo(width, 1)
        assert (one.lut, one.ff) == (formulas.FIFO_REGISTER_LUT, width + 1)
        assert formulas.fifo_impl(width, 1) == "registers"
        assert formulas.fifo(width, 2).lut >= width > one.lut
