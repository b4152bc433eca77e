"""The part database and the questions asked of it: `report-resources --target-fps` on one part,
and `--parts` (which parts run a model at a frame rate, and at what cost, smallest first)."""
from __future__ import annotations

import json

import pytest

from codegen.errors import QgenError
from codegen.parts import PART_PATTERN, PARTS, resolve_part, resolve_parts, smallest_first
from codegen.pipeline import lower
from codegen.resources.fit import BUDGETED, Fitter, cheapest_at_fps, fastest_within_budget, with_sized_fifos
from codegen.timing.sizing import interval_for_fps

WEARABLE_PARTS = {"xc7z007s", "xc7z010", "xc7z014s", "xc7z015", "xc7s25", "xc7s50", "xc7a35t", "xc7a100t",
                  "xczu2cg", "xck26"}


@pytest.fixture(scope="module")
def tiny_graph(tiny_checkpoint):
    return lower(tiny_checkpoint).graph


# ---- the database --------------------------------------------------------------------------------

@pytest.mark.parametrize("short", sorted(PARTS))
def test_every_part_resolves_and_its_figures_are_plausible(short):
    part = PARTS[short]
    assert resolve_part(short) is part and resolve_part(short.upper()) is part
    again = resolve_part(part.full)      # the default full string resolves to the same device
    assert again.short == short and again.resources() == part.resources() and again.full == part.full.lower()
    assert PART_PATTERN.fullmatch(part.full.lower()) and part.full.lower().startswith(short)
    assert min(part.lut, part.ff, part.bram_18k, part.dsp) > 0 and part.uram >= 0
    assert part.bram_18k % 2 == 0            # every one of these devices has BRAM36 blocks, two BRAM_18K each
    assert part.ff == 2 * part.lut           # 7-series and UltraScale+ slices: two flip-flops per LUT
    assert part.dsp_kind == ("DSP48E1" if short.startswith("xc7") else "DSP48E2")
    assert part.source and part.board


def test_wearable_class_parts_are_in_the_database():
    assert set(PARTS) >= WEARABLE_PARTS | {"xc7z020", "xczu3eg", "xczu7ev", "xcu250"}
    xc7z010 = PARTS["xc7z010"]      # DS190: 17,600 LUT, 35,200 FF, 60 BRAM36, 80 DSP48E1
    assert (xc7z010.lut, xc7z010.ff, xc7z010.bram_18k, xc7z010.dsp) == (17_600, 35_200, 120, 80)
    assert PARTS["xck26"].full == "xck26-sfvc784-2LV-c" and PARTS["xck26"].uram == 64


def test_other_packages_and_grades_of_a_device_resolve_to_it():
    assert resolve_part("xc7s25csga225-2").short == "xc7s25"
    assert resolve_part("XC7A35TICSG324-1L").full == "xc7a35ticsg324-1l"      # the industrial grade, as typed
    assert resolve_part("xck26-sfvc784-2lv-i").resources() == PARTS["xck26"].resources()
    with pytest.raises(QgenError, match="unknown part 'xc7z0101'"):     # a digit names another device
        resolve_part("xc7z0101")
    with pytest.raises(QgenError, match="not a part name"):
        resolve_part("xc7s25;exec")


def test_parts_lists_come_smallest_first():
    everything = resolve_parts("all")
    assert [p.short for p in everything] == [p.short for p in smallest_first(PARTS.values())]
    assert [p.lut for p in everything] == sorted(p.lut for p in everything)
    assert everything[0].short == "xc7z007s" and everything[-1].short == "xcu250"
    assert [p.short for p in resolve_parts(" xc7z020, xc7s25 ,xczu2cg-sbva484-1-e")] == ["xc7s25", "xczu2cg",
                                                                                        "xc7z020"]
    with pytest.raises(QgenError, match="xc7s25 twice"):
        resolve_parts("xc7s25,xc7s25csga324-1")
    with pytest.raises(QgenError, match="unknown part 'all'"):
        resolve_parts("all,xc7z020")


# ---- report-resources --model --part P --target-fps F ------------------------------------------------

def test_report_target_fps_is_the_estimate_of_hls_target_fps(cli, tiny_checkpoint, tmp_path):
    """The same checkpoint, part and frame rate: report-resources shows exactly the estimate that
    qgen hls --target-fps writes into its project."""
    args = ["--model", tiny_checkpoint, "--part", "xc7a100t", "--target-fps", "3000"]
    result = cli("hls", *args, "--out", tmp_path / "prj", "--images", "1", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(cli("report-resources", *args, "--json").stdout)
    assert report == json.loads((tmp_path / "prj" / "resources_estimate.json").read_text())
    assert report["fits"] and report["slowest_kernel_cycles"] <= 1e9 / (3000 * 10.0)
    plain = json.loads(cli("report-resources", "--model", tiny_checkpoint, "--part", "xc7a100t", "--json").stdout)
    # without F: the fastest folding within the budget, at least as fast as F's
    assert plain["slowest_kernel_cycles"] <= report["slowest_kernel_cycles"]


# ---- report-resources --model --parts ...  -----------------------------------------------------------

def test_parts_table_lists_every_part_smallest_first_and_names_the_smallest_that_fits(cli, tiny_checkpoint,
                                                                                   tiny_graph):
    # half the fastest rate any folding reaches: near full parallelism, more than a small part holds
    fps = round(0.5 * 1e9 / (Fitter(tiny_graph, PARTS["xcu250"].resources()).fastest_possible() * 10.0))
    table = json.loads(cli("report-resources", "--model", tiny_checkpoint, "--parts", "all", "--target-fps", fps,
                           "--json").stdout)
    rows = table["parts"]
    assert [r["part"] for r in rows] == [p.short for p in resolve_parts("all")]
    assert table["target_fps"] == fps and table["max_utilization"] == 0.8 and "timing model" in table["fps_source"]
    fitting = [r["part"] for r in rows if r["fits"]]
    assert fitting and len(fitting) < len(rows)
    assert table["smallest_fitting"] == fitting[0]
    for row in rows:
        budget = {r: 0.8 * row["available"][r] for r in BUDGETED}
        assert row["fits"] == all(row["used"][r] <= budget[r] for r in BUDGETED), row
        assert row["over_budget"] == [r for r in BUDGETED if row["used"][r] > budget[r]]
        assert row["fps"] >= fps and row["available"]["lut"] == PARTS[row["part"]].lut
    for row in rows[:: len(rows) // 3]:     # the shared estimates give what a fitter of its own gives
        fitter = Fitter(tiny_graph, PARTS[row["part"]].resources())
        _, used, fits, _ = with_sized_fifos(fitter, lambda f: cheapest_at_fps(f, fps, 10.0), tiny_graph, 10.0,
                                            None, fps)
        assert (used, fits) == (row["used"], row["fits"]), row["part"]

    text = cli("report-resources", "--model", tiny_checkpoint, "--parts", "all", "--target-fps", fps)
    assert text.exit_code == 0, text.output
    lines = text.stdout.strip().splitlines()
    assert lines[-1].startswith(f"smallest part reaching {fps:g} frames/s: {fitting[0]} ")
    positions = [text.stdout.index(f"│ {p.short} ") for p in resolve_parts("all")]
    assert positions == sorted(positions)


def test_parts_without_a_frame_rate_give_each_part_its_fastest_folding(cli, tiny_checkpoint, tiny_graph):
    # 5 % of an xc7z007s (720 LUTs) holds no U-Net, 5 % of an Alveo U250 (86,400 LUTs) does
    table = json.loads(cli("report-resources", "--model", tiny_checkpoint, "--parts", "xcu250,xc7z007s",
                           "--max-utilization", "0.05", "--json").stdout)
    small, large = table["parts"]
    assert (small["part"], large["part"]) == ("xc7z007s", "xcu250") and table["max_utilization"] == 0.05
    assert not small["fits"] and "lut" in small["over_budget"]     # even fully folded it needs more
    fitter = Fitter(tiny_graph, PARTS["xcu250"].resources(), 0.05)
    folding, used, fits, interval = with_sized_fifos(fitter, fastest_within_budget, tiny_graph, 10.0)
    assert large["fits"] and fits and (large["used"], large["interval_cycles"]) == (used, interval)
    slowest_layer = fitter.interval(folding)        # the sized design's steady state: within 5 % of it
    assert slowest_layer <= interval <= 1.05 * slowest_layer
    assert large["fps"] == pytest.approx(1e9 / (large["interval_cycles"] * 10.0))
    assert table["smallest_fitting"] == "xcu250" and table["target_fps"] is None


def test_a_frame_rate_near_zero_allows_the_slowest_folding(tiny_graph):
    """1e-320 frames/s is finite and positive, but 1e9 / 1e-319 cycles is inf: no int() of it."""
    fitter = Fitter(tiny_graph, PARTS["xc7z020"].resources())
    slowest = fitter.cheapest_fitting(max(fitter.candidate_intervals()))
    assert cheapest_at_fps(fitter, 1e-320, 10.0) == slowest == cheapest_at_fps(fitter, 1e-3, 10.0)


@pytest.mark.parametrize("part", ["xc7z007s", "xc7z020"])
def test_the_fitter_answers_for_the_fifos_the_project_will_have(part, tiny_graph):
    """Whatever `with_sized_fifos` accepts, the project's own design (right-sized FIFOs) fits, and
    costs no more than the figure it reported."""
    from codegen.hls.design import build_design
    from codegen.hls.fifo import assign_depths
    from codegen.resources.estimate import kernel_rows, totals

    fps = round(0.25 * 1e9 / (Fitter(tiny_graph, PARTS["xcu250"].resources()).fastest_possible() * 10.0))
    for pick, target in ((fastest_within_budget, None), (lambda f: cheapest_at_fps(f, fps, 10.0), fps)):
        fitter = Fitter(tiny_graph, PARTS[part].resources())
        folding, used, fits, interval = with_sized_fifos(fitter, pick, tiny_graph, 10.0, None, target)
        design = build_design(tiny_graph, folding)
        sizing = assign_depths(design, 10.0, target_fps=target)
        allowed = None if target is None else interval_for_fps(target, 10.0)
        built = totals(kernel_rows(design))
        assert all(built[r] <= used[r] for r in BUDGETED), (built, used)
        assert sizing.interval_cycles <= interval and (allowed is None or interval <= allowed)
        if fits:
            assert all(used[r] <= 0.8 * PARTS[part].resources()[r] for r in BUDGETED), used


def test_dsp_pairs_only_repair_a_budget_that_overflows(tiny_graph):
    """A DSP pair costs LUTs and a pipeline stage to save DSPs: within budget the fitter never picks
    one (it may only repair an overflow), though pairs are among its options and, at these prices
    (a DSP worth ~20 LUTs), the cheapest option of many layers."""
    roomy = Fitter(tiny_graph, {"lut": 10**9, "ff": 10**10, "dsp": 5 * 10**7, "bram_18k": 10**6, "uram": 0})
    assert any(o.fold.mult == "dsp2" for opts in roomy.options.values() for o in opts)
    for target in roomy.candidate_intervals()[::5]:
        folding, used, ok = roomy.cheapest_fitting(target)
        assert ok and not [n for n, f in folding.items() if f.mult == "dsp2"], (target, used, ok)
