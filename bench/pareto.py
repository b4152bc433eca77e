"""Dice against hardware cost for the three bitwidth losses (issue 12).

    python bench/pareto.py [--epochs 4] [--jobs 2] [--reuse]          # the front (about 45 min)
    python bench/pareto.py --repeat-seed 1 --only mean-0.5 cost-0.5   # the same points, another seed
    python bench/pareto.py --report-only                              # rewrite .md/.png from .json

Every point starts from the float twin of the shipped example (wearable preset, phantom data) and
trains the same number of epochs with the same settings (`--bits-lr BITS_LR`, `--freeze-bits-at
FREEZE_BITS_AT`); only the bitwidth term differs: `mean` and `size` at several lambdas, `cost` at
several lambdas, and one `cost` run with `--part xc7z020 --target-fps TARGET_FPS`. Each checkpoint
then goes through `qgen hls --part xc7z020` (the fitted folding, FIFOs sized by the timing model),
and the point records the validation Dice, the estimate's LUT-equivalents (resources priced by the
part, codegen/resources/equivalents.py), the frame rate of the timing model's steady state (the
model `qgen simulate` runs, which `qgen hls` uses to size the FIFOs), and whether the design fits.
The shipped example (12 epochs, `mean`, lambda 0.25) goes through the same `qgen hls` as a reference row.

Writes bench/results/pareto.json ({"points": [...], "repeats": [...], "goal": ...}), pareto.md and
pareto.png (Dice against LUT-equivalents and against frames/s, one marker per loss). Checkpoints go
to bench/results/pareto_checkpoints/ (git-ignored). Training runs in `--jobs` processes of one thread each.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))     # codegen and quantunet, imported where needed
RESULTS = ROOT / "bench" / "results"
CHECKPOINTS = RESULTS / "pareto_checkpoints"
QGEN = str(Path(sys.executable).with_name("qgen"))
FLOAT_TWIN = ROOT / "examples" / "wearable_float.pt"
EXAMPLE = ROOT / "examples" / "wearable_quantunet.pt"
PART = "xc7z020"
TARGET_FPS = 400.0
BITS_LR = 0.05      # every point: bitwidths settle within the short runs (the example used 0.02 over 12 epochs)
FREEZE_BITS_AT = 0.75   # every point: the last quarter trains the weights on widths that no longer move

POINTS = [  # (label, bit loss, lambda, extra qgen train arguments)
    ("mean-0.25", "mean", 0.25, []),
    ("mean-0.5", "mean", 0.5, []),
    ("mean-1", "mean", 1.0, []),
    ("size-0.25", "size", 0.25, []),
    ("size-1", "size", 1.0, []),
    ("cost-0.5", "cost", 0.5, []),
    ("cost-1", "cost", 1.0, []),
    ("cost-2", "cost", 2.0, []),
    (f"cost-0.5-fit{TARGET_FPS:g}", "cost", 0.5, ["--part", PART, "--target-fps", str(TARGET_FPS)]),
]
MARKERS = {"mean": "o", "size": "s", "cost": "^", "example": "*"}


def qgen(*args, threads: int | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.run([QGEN, *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(f"qgen {' '.join(map(str, args[:3]))} failed:\n{proc.stderr[-2000:]}")
    return proc


def checkpoint_path(label: str, seed: int = 0) -> Path:
    return CHECKPOINTS / (f"{label}.pt" if seed == 0 else f"{label}-seed{seed}.pt")


def train(point, epochs: int, reuse: bool, seed: int = 0) -> dict:
    label, loss, lam, extra = point
    ckpt = checkpoint_path(label, seed)
    if reuse and ckpt.is_file():
        return {"checkpoint": ckpt, "train_seconds": None}
    started = time.perf_counter()
    qgen("train", "--preset", "wearable", "--init-from", FLOAT_TWIN, "--epochs", epochs, "--bits-lr", BITS_LR,
         "--freeze-bits-at", FREEZE_BITS_AT,
         "--bit-loss", loss, "--lambda-bits", lam, *extra, "--seed", seed, "--out", ckpt, "--force", "--name", label.replace("-", "_").replace(".", "p"),
         "--json", threads=1)
    return {"checkpoint": ckpt, "train_seconds": round(time.perf_counter() - started, 1)}


def hardware(ckpt: Path) -> dict:
    """qgen hls on the part with its fitted folding: the project's estimate (timing-model interval)."""
    from codegen.resources.equivalents import lut_equivalents

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "prj"
        qgen("hls", "--model", ckpt, "--part", PART, "--out", out, "--force", "--images", 1)
        est = json.loads((out / "resources_estimate.json").read_text())
        folding = json.loads((out / "folding.json").read_text())["layers"]
    total = est["total"]
    return {"lut": total["lut"], "ff": total["ff"], "dsp": total["dsp"], "bram_18k": total["bram_18k"],
            "lut_equivalents": round(lut_equivalents(total, est["available"]), 1), "fps": round(est["fps"], 1),
            "fps_source": est.get("interval_source"), "fits": bool(est["fits"]),
            "multipliers": sum(f["pe"] * f["simd"] for f in folding.values())}


def model_facts(ckpt: Path) -> dict:
    from quantunet.checkpoint import load_checkpoint

    c = load_checkpoint(ckpt)
    m = c.raw["metrics"]
    facts = {"dice": round(float(m["dice"]), 4), "pixel_accuracy": round(float(m["pixel_accuracy"]), 5),
             "avg_bits": round(float(m["avg_bits"]), 2), "avg_weight_bits": round(float(m["avg_weight_bits"]), 2),
             "avg_act_bits": round(float(m["avg_act_bits"]), 2)}
    training = c.raw.get("training", {})
    if isinstance(training.get("hardware"), dict):
        facts["training_estimate"] = training["hardware"]
    return facts


def goal(points: list[dict]) -> dict:
    """The issue's test: at Dice within 0.01 of the best `mean` point, a `cost` point with >= 25 % fewer
    LUT-equivalents at (at least) the same frame rate, or >= 1.5x the frame rate within the same budget (both fit)."""
    means = [p for p in points if p["bit_loss"] == "mean"]
    best = max(means, key=lambda p: p["dice"])
    found = []
    for p in points:
        if p["bit_loss"] != "cost" or p["dice"] < best["dice"] - 0.01:
            continue
        fewer = p["fps"] >= best["fps"] and p["lut_equivalents"] <= 0.75 * best["lut_equivalents"]
        faster = p["fits"] and best["fits"] and p["fps"] >= 1.5 * best["fps"]
        if fewer or faster:
            found.append({"label": p["label"], "fps_ratio": round(p["fps"] / best["fps"], 2),
                          "lut_eq_ratio": round(p["lut_equivalents"] / best["lut_equivalents"], 2)})
    # the whole front, not only its best-Dice end: each cost point against the fastest fitting mean
    # point whose Dice is at least as high (within 0.01)
    rivals = []
    for p in points:
        if p["bit_loss"] != "cost":
            continue
        peers = [m for m in means if m["fits"] and m["dice"] >= p["dice"] - 0.01]
        rival = max(peers, key=lambda m: m["fps"]) if peers else None
        rivals.append({"label": p["label"], "dice": p["dice"], "fps": p["fps"],
                       "rival": rival and rival["label"], "rival_dice": rival and rival["dice"],
                       "fps_ratio": rival and round(p["fps"] / rival["fps"], 2),
                       "lut_eq_ratio": rival and round(p["lut_equivalents"] / rival["lut_equivalents"], 2)})
    target = next((p for p in points if p.get("target_fps")), None)
    return {"best_mean": best["label"], "best_mean_dice": best["dice"], "dominating_cost_points": found,
            "met": bool(found), "cost_vs_mean": rivals,
            "target_run": None if target is None else {
                "label": target["label"], "target_fps": target["target_fps"], "fps": target["fps"],
                "fits": target["fits"], "met": bool(target["fits"] and target["fps"] >= target["target_fps"])}}


def plot(points: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for loss, marker in MARKERS.items():
        pts = [p for p in points if p["bit_loss"] == loss]
        if not pts:
            continue
        for ax, key in zip(axes, ("lut_equivalents", "fps")):
            fits = [p for p in pts if p["fits"]]
            over = [p for p in pts if not p["fits"]]
            ax.scatter([p[key] for p in fits], [p["dice"] for p in fits], marker=marker, s=70, label=loss)
            if over:    # hollow: does not fit the part
                ax.scatter([p[key] for p in over], [p["dice"] for p in over], marker=marker, s=70,
                           facecolors="none", edgecolors="black", label=f"{loss} (does not fit)")
            for p in pts:
                ax.annotate(p["label"], (p[key], p["dice"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    axes[0].set_xlabel(f"LUT-equivalents on {PART} (fitted design, estimate)")
    axes[1].set_xlabel(f"frames/s on {PART} (timing model, fitted folding)")
    for ax in axes:
        ax.set_ylabel("validation Dice")
        ax.grid(alpha=0.3)
    axes[1].legend(title="bit loss")
    fig.suptitle("QuantU-Net wearable: bitwidth loss vs accuracy and hardware")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_markdown(result: dict, path: Path) -> None:
    g = result["goal"]
    lines = [
        "# Bitwidth loss vs hardware: the Pareto front (bench/pareto.py)", "",
        f"Every point: wearable preset, phantom data, from `{FLOAT_TWIN.relative_to(ROOT)}`, "
        f"**{result['epochs']} epochs**, `--bits-lr {BITS_LR} --freeze-bits-at {FREEZE_BITS_AT}`, seed 0; then `qgen hls --part {PART}` with its "
        "fitted folding. Frame rate: the timing model's steady state (what `qgen simulate` runs; `qgen hls` "
        "uses it to size the FIFOs). LUT-equivalents: the estimate's LUT + FF x 0.5 + DSP x 241.8 + BRAM_18K x 190 "
        f"(resources priced by the {PART}). The shipped example (12 epochs, mean, lambda 0.25) is the reference row.", "",
        "| point | loss | lambda | Dice | avg bits (w / a) | LUT | FF | DSP | BRAM_18K | LUT-eq | frames/s | fits | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result["points"]:
        lines.append(f"| {p['label']} | {p['bit_loss']} | {p['lambda']} | {p['dice']:.4f} | {p['avg_bits']:.2f} "
                     f"({p['avg_weight_bits']:.2f} / {p['avg_act_bits']:.2f}) | {p['lut']:,} | {p['ff']:,} | {p['dsp']} | "
                     f"{p['bram_18k']} | {p['lut_equivalents']:,.0f} | {p['fps']:.1f} | {'yes' if p['fits'] else 'no'} | "
                     f"{p['train_seconds'] if p['train_seconds'] is not None else '-'} |")
    lines += ["", "## Goal", ""]
    lines.append(f"- Best `mean` point: {g['best_mean']} (Dice {g['best_mean_dice']:.4f}).")
    if g["met"]:
        for d in g["dominating_cost_points"]:
            lines.append(f"- **met** by {d['label']}: {d['fps_ratio']}x its frame rate at {d['lut_eq_ratio']}x its "
                         "LUT-equivalents, Dice within 0.01.")
    else:
        lines.append("- **not met**: no `cost` point within 0.01 Dice of it has >= 1.5x its frame rate (both fitting) "
                     "or >= 25 % fewer LUT-equivalents at its frame rate.")
    lines += ["", "Each `cost` point against the fastest fitting `mean` point with Dice at least its own minus 0.01:", "",
              "| cost point | Dice | frames/s | mean rival | rival Dice | frames/s ratio | LUT-eq ratio |",
              "|---|---|---|---|---|---|---|"]
    for r in g["cost_vs_mean"]:
        lines.append(f"| {r['label']} | {r['dice']:.4f} | {r['fps']:.1f} | {r['rival'] or '-'} | "
                     f"{r['rival_dice'] if r['rival'] is not None else '-'} | {r['fps_ratio'] or '-'} | {r['lut_eq_ratio'] or '-'} |")
    lines.append("")
    repeats = result.get("repeats") or []
    if repeats:
        first = {p["label"]: p for p in result["points"]}
        lines += ["", "The same points with another seed (noise between runs):", "",
                  "| point | seed | Dice | frames/s | LUT-eq | seed 0 Dice | seed 0 frames/s | seed 0 LUT-eq |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in repeats:
            f = first[r["label"]]
            lines.append(f"| {r['label']} | {r['seed']} | {r['dice']:.4f} | {r['fps']:.1f} | {r['lut_equivalents']:,.0f} | "
                         f"{f['dice']:.4f} | {f['fps']:.1f} | {f['lut_equivalents']:,.0f} |")
        lines.append("")
    t = g["target_run"]
    if t:
        lines.append(f"- `--part {PART} --target-fps {t['target_fps']:g}` run ({t['label']}): {t['fps']:.1f} frames/s, "
                     f"{'fits' if t['fits'] else 'does not fit'}: **{'met' if t['met'] else 'not met'}**.")
    lines += ["", "![pareto](pareto.png)", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="keep checkpoints already trained")
    ap.add_argument("--only", nargs="*", default=None, help="labels to (re)train; others are reused")
    ap.add_argument("--report-only", action="store_true", help="rewrite pareto.md/.png from pareto.json")
    ap.add_argument("--repeat-seed", type=int, default=None,
                    help="train the --only points again with this seed; adds them to pareto.json as repeats")
    args = ap.parse_args()
    if args.report_only or args.repeat_seed is not None:
        result = json.loads((RESULTS / "pareto.json").read_text())
        if args.repeat_seed is not None:
            result["repeats"] = [r for r in result.get("repeats", []) if r["seed"] != args.repeat_seed] + \
                repeat(args.repeat_seed, args.only or [], args.epochs, args.jobs, args.reuse)
        result["goal"] = goal(result["points"])
        report(result)
        return
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    todo = [p for p in POINTS if args.only is None or p[0] in args.only]
    with ThreadPoolExecutor(args.jobs) as pool:
        trained = dict(zip([p[0] for p in todo], pool.map(lambda p: train(p, args.epochs, args.reuse), todo)))
    # a reused checkpoint keeps the training time the last results recorded for it
    last = json.loads((RESULTS / "pareto.json").read_text()) if (RESULTS / "pareto.json").is_file() else {}
    last_seconds = {p.get("label"): p.get("train_seconds") for p in last.get("points", [])}
    points = []
    for label, loss, lam, extra in POINTS:
        run = trained.get(label) or {"checkpoint": CHECKPOINTS / f"{label}.pt", "train_seconds": None}
        ckpt = run["checkpoint"]
        seconds = run["train_seconds"] if run["train_seconds"] is not None else last_seconds.get(label)
        row = {"label": label, "bit_loss": loss, "lambda": lam, "checkpoint": str(ckpt.relative_to(ROOT)),
               "train_seconds": seconds, "epochs": args.epochs}
        if "--target-fps" in extra:
            row["target_fps"] = TARGET_FPS
        row.update(model_facts(ckpt))
        row.update(hardware(ckpt))
        points.append(row)
        print(json.dumps({k: row[k] for k in ("label", "dice", "avg_bits", "lut_equivalents", "fps", "fits")}), flush=True)
    example = {"label": "example", "bit_loss": "example", "lambda": 0.25, "checkpoint": str(EXAMPLE.relative_to(ROOT)),
               "train_seconds": None, "epochs": 12, **model_facts(EXAMPLE), **hardware(EXAMPLE)}
    result = {"part": PART, "epochs": args.epochs, "bits_lr": BITS_LR, "freeze_bits_at": FREEZE_BITS_AT,
              "target_fps": TARGET_FPS,
              "points": points, "example": example, "goal": goal(points)}
    report(result)


def repeat(seed: int, labels: list[str], epochs: int, jobs: int, reuse: bool) -> list[dict]:
    """The same points trained with another seed: how much of a difference between points is noise."""
    todo = [p for p in POINTS if p[0] in labels]
    with ThreadPoolExecutor(jobs) as pool:
        runs = list(pool.map(lambda p: train(p, epochs, reuse, seed), todo))
    rows = []
    for (label, loss, lam, _), run in zip(todo, runs):
        ckpt = run["checkpoint"]
        rows.append({"label": label, "seed": seed, "bit_loss": loss, "lambda": lam,
                     "checkpoint": str(ckpt.relative_to(ROOT)), "train_seconds": run["train_seconds"],
                     **model_facts(ckpt), **hardware(ckpt)})
    return rows


def report(result: dict) -> None:
    (RESULTS / "pareto.json").write_text(json.dumps(result, indent=2) + "\n")
    everything = result["points"] + [result["example"]]
    plot(everything, RESULTS / "pareto.png")
    write_markdown({**result, "points": everything}, RESULTS / "pareto.md")
    print(json.dumps(result["goal"], indent=2))


if __name__ == "__main__":
    main()
