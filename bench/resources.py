"""Estimated resources and frame rate: the example on xc7z020, the `paper` preset on xczu7ev.

    python bench/resources.py

The example is fitted to a Zynq-7020 (`--fit`); goal (issue 6): it fits with weights on chip at
>= 50 % of the DSP roofline. The `paper` preset (3x256x256, base 32, 7.8 M parameters) cannot be
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
from codegen.parts import resolve_part  # noqa: E402
from codegen.pipeline import lower  # noqa: E402
from codegen.resources.estimate import estimate_report  # noqa: E402
from codegen.resources.fit import choose_folding  # noqa: E402
from quantunet.config import get_preset  # noqa: E402
from quantunet.model import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def fitted(graph, part_name: str, clock_ns: float = 10.0) -> dict:
    """The design `qgen hls` would generate by default (fitted, or best effort when it cannot fit)."""
    part = resolve_part(part_name)
    folding, warning = choose_folding(graph, part, clock_ns)
    design = build_design(graph, folding)
    timing = assign_depths(design, clock_ns).to_json()
    report = estimate_report(design, part, clock_ns, timing)
    weights_bits = sum(op.weights.size * op.weight_type.bits for op in graph.weighted_ops)
    return {k: report[k] for k in ("part", "clock_ns", "total", "available", "utilization_percent", "fits",
                                   "interval_cycles", "bottleneck", "fps", "macs_per_frame", "dsp_roofline_fps",
                                   "roofline_ratio")} | {"weight_kbits": round(weights_bits / 1024, 1),
                                                         "warning": warning}


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
               f"paper_{bits}bit_xczu7ev": fitted(paper_graph(bits), "xczu7ev")}
    ex = results["example_xc7z020"]
    results["goal"] = {"fits": ex["fits"], "roofline_ratio_at_least": 0.5,
                       "met": bool(ex["fits"] and ex["roofline_ratio"] >= 0.5)}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Estimated resources (analytical, before synthesis)", "",
             "| design | part | LUT | FF | DSP | BRAM_18K | fits | interval (cycles) | frames/s | DSP roofline | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name == "goal":
            continue
        t, a = r["total"], r["available"]
        lines.append(f"| {name} | {r['part']} | {t['lut']:,}/{a['lut']:,} | {t['ff']:,}/{a['ff']:,} | "
                     f"{t['dsp']:,}/{a['dsp']:,} | {t['bram_18k']:,}/{a['bram_18k']:,} | {r['fits']} | "
                     f"{r['interval_cycles']:,} | {r['fps']:.1f} | {r['dsp_roofline_fps']:.1f} | "
                     f"{100 * r['roofline_ratio']:.0f} % |")
    lines += [f"\n{name}: {r['warning']}" for name, r in results.items() if name != "goal" and r.get("warning")]
    lines += ["", f"Goal: the example fits xc7z020 with weights on chip at >= 50 % of the DSP roofline: "
              f"{results['goal']['met']}.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
