"""Estimated resources and frame rate: the example on xc7z020, the `paper` preset on xczu7ev.

    python bench/resources.py

The example is fitted to a Zynq-7020 as `qgen hls` does by default (FIFOs sized and right-sized by the
timing model, whose steady-state interval gives the frame rate), and built with `--target-fps 30`.
Goals: it fits with weights on chip at >= 50 % of the DSP roofline (issue 6); fitted, >= 500
frames/s with multipliers + adders + thresholds >= 50 % of the LUTs, the interval within 5 % of the
slowest kernel; at 30 frames/s <= 14,000 LUT, and the smallest part reaching 30 frames/s named
(issue 17). The least-resource design at the slowest folding there is (`example_xc7z020_slowest`) is
the floor of the architecture: no folding of this model costs fewer LUTs under the estimate. The `paper` preset (3x256x256, base 32, 7.8 M parameters) cannot be
trained on the CPUs here, so its estimate uses an untrained network whose learned bitwidths are set
to the example's average (rounded): resources depend on shapes and bitwidths, not on training.
All numbers are analytical estimates, not synthesis results. Writes bench/results/resources.json/.md.
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch

warnings.filterwarnings("ignore")

from codegen.hls.design import build_design  # noqa: E402
from codegen.hls.fifo import assign_depths  # noqa: E402
from codegen.ir.frontend import lower_model  # noqa: E402
from codegen.parts import resolve_part, resolve_parts  # noqa: E402
from codegen.pipeline import lower  # noqa: E402
from codegen.resources.estimate import estimate_report  # noqa: E402
from codegen.resources.fit import choose_folding  # noqa: E402
from codegen.resources.formulas import PARTS  # noqa: E402
from codegen.resources.part_table import part_table  # noqa: E402
from quantunet.config import get_preset  # noqa: E402
from quantunet.model import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


ARITHMETIC = ("multipliers", "adders", "thresholds")


def fitted(graph, part_name: str, clock_ns: float = 10.0, target_fps: float | None = None) -> dict:
    """The design `qgen hls` would generate (fitted, or best effort when it cannot fit; with
    `target_fps` the least resources reaching it)."""
    part = resolve_part(part_name)
    folding, warning = choose_folding(graph, part, clock_ns, target_fps=target_fps)
    design = build_design(graph, folding)
    timing = assign_depths(design, clock_ns, target_fps=target_fps).to_json()
    report = estimate_report(design, part, clock_ns, timing)
    weights_bits = sum(op.weights.size * op.weight_type.bits for op in graph.weighted_ops)
    lut_by_part = {name: sum(row["breakdown"][name]["lut"] for row in report["layers"]) for name in PARTS}
    return {k: report[k] for k in ("part", "clock_ns", "total", "available", "utilization_percent", "fits",
                                   "interval_cycles", "slowest_kernel_cycles", "bottleneck", "fps",
                                   "macs_per_frame", "dsp_roofline_fps", "roofline_ratio")} | {
        "kernels": len(design.kernels), "lut_by_part": lut_by_part,
        "arithmetic_lut_share": sum(lut_by_part[p] for p in ARITHMETIC) / report["total"]["lut"],
        "interval_over_slowest_kernel": report["interval_cycles"] / report["slowest_kernel_cycles"] - 1,
        "weight_kbits": round(weights_bits / 1024, 1), "warning": warning}


def paper_graph(bits: int):
    cfg = get_preset("paper").model
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    with torch.no_grad():
        for _ in range(cfg.act_stats_steps + 1):     # activation ranges from the statistics phase
            model(torch.rand(1, cfg.in_channels, cfg.input_size, cfg.input_size))
        for p in model.bit_parameters():
            p.fill_(float(bits - cfg.min_bits))
    return lower_model(model.eval(), f"paper_{bits}bit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=ROOT / "examples" / "wearable_quantunet.pt")
    parser.add_argument("--out", default=ROOT / "bench" / "results" / "resources")
    args = parser.parse_args()
    example = lower(args.model)
    avg = example.ckpt.metrics.get("avg_bits", 4)
    bits = max(2, round(avg))
    results = {"example_xc7z020": fitted(example.graph, "xc7z020"),
               "example_xc7z020_30fps": fitted(example.graph, "xc7z020", target_fps=30),
               # a rate near zero allows every interval: the fitter's cheapest design at the slowest one
               "example_xc7z020_slowest": fitted(example.graph, "xc7z020", target_fps=1e-6),
               f"paper_{bits}bit_xczu7ev": fitted(paper_graph(bits), "xczu7ev")}
    table = part_table(example.graph, resolve_parts("all"), 10.0, 30, 0.8)
    ex, slow, paper = (results[k] for k in ("example_xc7z020", "example_xc7z020_30fps", f"paper_{bits}bit_xczu7ev"))
    paper_within = {r: paper["total"][r] <= 0.8 * paper["available"][r] for r in ("lut", "ff", "dsp")}
    goals = {
        "fits_at_half_the_dsp_roofline": bool(ex["fits"] and ex["roofline_ratio"] >= 0.5),
        "fitted_at_least_500_fps": bool(ex["fits"] and ex["fps"] >= 500),
        "arithmetic_at_least_half_the_luts": ex["arithmetic_lut_share"] >= 0.5,
        "interval_within_5_percent_of_slowest_kernel": ex["interval_over_slowest_kernel"] <= 0.05,
        "at_30_fps_at_most_14000_lut": slow["total"]["lut"] <= 14_000,
        "smallest_part_at_30_fps_named": table["smallest_fitting"] is not None,
        "paper_within_80_percent_of_lut_ff_dsp": all(paper_within.values()),
    }
    results["parts_at_30_fps"] = [{k: row[k] for k in ("part", "fits", "used", "utilization_percent", "fps")}
                                  for row in table["parts"]]
    results["smallest_part_at_30_fps"] = table["smallest_fitting"]
    results["goal"] = goals
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Estimated resources (analytical, before synthesis)", "",
             "| design | part | LUT | FF | DSP | BRAM_18K | fits | interval (cycles) | frames/s | DSP roofline | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    designs = {name: r for name, r in results.items() if name.startswith(("example", "paper"))}
    for name, r in designs.items():
        t, a = r["total"], r["available"]
        lines.append(f"| {name} | {r['part']} | {t['lut']:,}/{a['lut']:,} | {t['ff']:,}/{a['ff']:,} | "
                     f"{t['dsp']:,}/{a['dsp']:,} | {t['bram_18k']:,}/{a['bram_18k']:,} | {r['fits']} | "
                     f"{r['interval_cycles']:,} | {r['fps']:.1f} | {r['dsp_roofline_fps']:.1f} | "
                     f"{100 * r['roofline_ratio']:.0f} % |")
    lines += [f"\n{name}: {r['warning']}" for name, r in designs.items() if r.get("warning")]
    lines += ["", "LUTs by breakdown part (the share of multipliers + adders + thresholds last):", "",
              "| design | kernels | " + " | ".join(PARTS) + " | arithmetic |",
              "|---|---|" + "---|" * len(PARTS) + "---|"]
    for name, r in designs.items():
        lines.append(f"| {name} | {r['kernels']} | " + " | ".join(f"{r['lut_by_part'][p]:,}" for p in PARTS)
                     + f" | {100 * r['arithmetic_lut_share']:.1f} % |")
    lines += ["", "Interval over the slowest kernel's own count (a design built for a frame rate may spend its spare "
              "rate on 1-deep FIFOs, down to that rate): "
              + ", ".join(f"{name} {100 * r['interval_over_slowest_kernel']:+.2f} %" for name, r in designs.items()),
              "", "Parts at 30 frames/s (the fitter with sized FIFOs, 80 % of each resource; smallest first):", "",
              "| part | fits | LUT | FF | DSP | BRAM_18K | frames/s |", "|---|---|---|---|---|---|---|"]
    for row in results["parts_at_30_fps"]:
        u, pct = row["used"], row["utilization_percent"]
        lines.append(f"| {row['part']} | {row['fits']} | " + " | ".join(
            f"{u[r]:,} ({pct[r] if pct[r] is not None else '-'} %)" for r in ("lut", "ff", "dsp", "bram_18k"))
            + f" | {row['fps']:.1f} |")
    floor = results["example_xc7z020_slowest"]
    lines += ["", f"Smallest part reaching 30 frames/s: {results['smallest_part_at_30_fps']}.", "",
              f"Floor of the architecture: the slowest folding ({floor['fps']:.1f} frames/s) needs "
              f"{floor['total']['lut']:,} LUT, of which {floor['lut_by_part']['control']:,} are per-kernel control "
              f"(an estimate, not calibrated) and {floor['lut_by_part']['fifo']:,} FIFOs; multipliers + adders "
              f"are {floor['lut_by_part']['multipliers'] + floor['lut_by_part']['adders']:,}.", "", "Goals:", ""]
    lines += [f"- {name.replace('_', ' ')}: {'met' if ok else 'NOT met'}" for name, ok in goals.items()]
    lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
