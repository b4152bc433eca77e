"""The cycle-level dataflow model on the shipped example (issue 10).

    python bench/simulate.py

Generates the example's project for xc7z020 (`qgen hls`), then runs `qgen simulate` for 2 frames
in both pipeline styles and reports: deadlock, simulated interval and frames/s against the slowest
kernel's own cycle count (goal: within 5 %), the wall time of each `qgen simulate` (goal: under a
minute), and the FIFO depths. For comparison the same model runs with the depths qgen used to
declare (C-order backlog + 32 on skip FIFOs, 2 elsewhere). Writes bench/results/simulate.json/.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from codegen.hls.design import build_design  # noqa: E402
from codegen.hls.fifo import required_depths  # noqa: E402
from codegen.hls.folding import Folding  # noqa: E402
from codegen.pipeline import lower  # noqa: E402
from codegen.timing.schedule import model_from_json  # noqa: E402
from codegen.timing.simulate import STYLES, simulate  # noqa: E402
from codegen.timing.sizing import analytic_interval  # noqa: E402

QGEN = str(Path(sys.executable).with_name("qgen"))
OLD_ANALYTIC_FPS = 329.0       # README before issue 10: slowest layer only, FIFO stalls ignored


def run(*args) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    proc = subprocess.run([QGEN, *map(str, args)], capture_output=True, text=True)
    return proc, time.perf_counter() - started


REPEAT = 5


def _engines(model, depths=None) -> dict:
    """Per style: both engines' wall time (median) and whether every reported figure agrees."""
    out = {}
    for style in STYLES:
        timings = {"auto": [], "events": []}
        results = {}
        for _ in range(REPEAT):
            for engine in timings:
                started = time.perf_counter()
                results[engine] = simulate(model, frames=2, style=style, depths=depths, engine=engine)
                timings[engine].append(time.perf_counter() - started)
        same = (results["auto"].to_json() == results["events"].to_json()
                and results["auto"].stalls == results["events"].stalls)
        out[style] = {"events_seconds": round(statistics.median(timings["events"]), 3),
                      "auto_seconds": round(statistics.median(timings["auto"]), 3), "identical": same,
                      "deadlock": results["events"].deadlock}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=ROOT / "examples" / "wearable_quantunet.pt")
    parser.add_argument("--out", default=ROOT / "bench" / "results" / "simulate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "prj"
        proc, hls_s = run("hls", "--model", args.model, "--part", "xc7z020", "--out", project, "--force", "--json")
        if proc.returncode:
            raise SystemExit(proc.stderr)
        summary = json.loads(proc.stdout)
        model = model_from_json(json.loads((project / "schedule.json").read_text()))
        folding = Folding.from_json(json.loads((project / "folding.json").read_text()))
        slowest = analytic_interval(model)
        styles = {}
        for style in STYLES:
            proc, seconds = run("simulate", project, "--frames", "2", "--style", style, "--json")
            report = json.loads(proc.stdout)
            styles[style] = {"deadlock": report["deadlock"], "interval_cycles": report["interval_cycles"],
                             "fps": report["fps"], "seconds": round(seconds, 2),
                             "within_5_percent": bool(report["interval_cycles"]
                                                      and report["interval_cycles"] <= 1.05 * slowest)}
        engines = _engines(model)
        # the depths qgen declared before the timing model: C-order backlog + 32, 2 elsewhere
        design = build_design(lower(args.model).graph, folding)
        backlog = required_depths(design)
        old = {name: backlog[name] + 32 if name in backlog else 2 for name in model.depths}
        old_runs = {}
        for style in STYLES:
            r = simulate(model, frames=2, style=style, depths=old)
            old_runs[style] = {"deadlock": r.deadlock, "interval_cycles": r.interval_cycles, "fps": r.fps,
                               "blocked": r.blocked[:4]}
        engines_old = _engines(model, old)
    fifos = [{"name": f["name"], "depth": f["depth"], "old_depth": old[f["name"]], "comment": f["comment"]}
             for f in summary["fifos"]]
    results = {
        "part": summary["part"], "clock_ns": summary["clock_ns"], "frames": 2,
        "slowest_kernel_cycles": slowest, "slowest_kernel_fps": 1e9 / (slowest * summary["clock_ns"]),
        "old_analytic_fps": OLD_ANALYTIC_FPS, "project_interval_cycles": summary["interval_cycles"],
        "styles": styles, "old_depths": old_runs, "fifos": fifos, "qgen_hls_seconds": round(hls_s, 1),
        "engines": {"generated": engines, "before": engines_old},
        "goal": {"completes_both_styles": all(not s["deadlock"] for s in styles.values()),
                 "within_5_percent": all(s["within_5_percent"] for s in styles.values()),
                 "under_a_minute": all(s["seconds"] < 60 for s in styles.values())},
    }
    results["goal"]["met"] = all(results["goal"].values())
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Cycle-level dataflow model (`qgen simulate`), example on xc7z020", "",
             f"Slowest kernel alone: {slowest:,} cycles ({results['slowest_kernel_fps']:.1f} frames/s at "
             f"{summary['clock_ns']} ns); README's analytic figure before the model: "
             f"{OLD_ANALYTIC_FPS:g} frames/s.", "",
             "| depths | style | deadlock | interval (cycles) | frames/s | vs slowest kernel "
             "| `qgen simulate` wall time |",
             "|---|---|---|---|---|---|---|"]
    for style, s in styles.items():
        vs = f"{100 * (s['interval_cycles'] / slowest - 1):+.2f} %" if s["interval_cycles"] else "-"
        lines.append(f"| generated | {style} | {s['deadlock']} | {s['interval_cycles'] or 0:,} | "
                     f"{(s['fps'] or 0):.1f} | {vs} | {s['seconds']:.1f} s |")
    for style, s in old_runs.items():
        vs = f"{100 * (s['interval_cycles'] / slowest - 1):+.2f} %" if s["interval_cycles"] else "-"
        waits = "; ".join(f"{b['kernel']} on {b['fifo']} ({b['state']})" for b in s["blocked"])
        lines.append(f"| before (backlog + 32, else 2) | {style} | {s['deadlock']}{' — ' + waits if waits else ''} | "
                     f"{s['interval_cycles'] or 0:,} | {(s['fps'] or 0):.1f} | {vs} | |")
    lines += ["", f"Solver and event engine (`simulate(..., engine=...)`, 2 frames, median of {REPEAT} runs in "
              "one process; the solver gives up on a deadlock and hands over to the event engine):", "",
              "| depths | style | event engine (s) | solver (s) | speed-up | identical results |", "|---|---|---|---|---|---|"]
    for label, runs in (("generated", engines), ("before", engines_old)):
        for style, e in runs.items():
            lines.append(f"| {label} | {style} | {e['events_seconds']} | {e['auto_seconds']} | "
                         f"{e['events_seconds'] / e['auto_seconds']:.1f}x | {e['identical']} |")
    lines += ["", "| FIFO | depth now | depth before | |", "|---|---|---|---|"]
    lines += [f"| {f['name']} | {f['depth']:,} | {f['old_depth']:,} | {f['comment']} |" for f in fifos]
    lines += ["", f"`qgen hls` (with FIFO sizing) took {hls_s:.1f} s.",
              f"Goal (2 frames complete in both styles, no deadlock, interval within 5 % of the slowest kernel, "
              f"under a minute): {results['goal']['met']}.", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
