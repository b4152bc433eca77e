"""Fuzz the lowering with random models: is the integer reference bit-exact with Brevitas, and does
the whole `qgen hls` -> `qgen csim` chain stay bit-exact, on models nobody hand-picked?

Each configuration is a random QuantU-Net drawn by `tests/randomized.py` (`draw_variant(seed)`):
base widths 2-6, depths 1-4, 16x16 or 32x32 inputs with 1 or 3 channels, transposed-conv or
nearest up-sampling, bitwidths random in 2..8 / all 2 / all 8 / alternating, constant and dead
channels (gamma 0), BatchNorm gammas of both signs and several magnitudes. For every configuration:

  (a) the integer reference against Brevitas at every activation quantizer, the logits and the mask,
      on `--images` phantom validation slices;
  (b) for every k-th configuration (`--csim` of them): checkpoint -> `qgen hls` -> `qgen csim`
      (g++, every layer alone and the whole top), which must pass bit-exactly.

    python bench/fuzz.py                        # 1000 configurations, 100 through csim
    python bench/fuzz.py --configs 50 --csim 5  # a quick look

Results: bench/results/fuzz.md and fuzz.json (every configuration, reproducible from its seed).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

from codegen.errors import QgenError  # noqa: E402
from codegen.ir.agreement import compare  # noqa: E402
from codegen.ir.frontend import lower_model  # noqa: E402
from quantunet.data import load_split  # noqa: E402
from tests.randomized import draw_variant, random_model, save_as_checkpoint  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def check_reference(variant, n_images: int) -> dict:
    model, bits = random_model(variant)
    try:
        graph = lower_model(model, f"fuzz{variant.seed}")
    except QgenError as exc:
        return {"status": "refused", "reason": str(exc), "bits": bits}
    images = load_split("phantom", "val", size=variant.input_size, channels=variant.in_channels,
                        n_val=n_images, seed=variant.seed).images
    report = compare(graph, model, images)
    bad = [r for r in report["layers"] if r["mismatches"]]
    return {"status": "ok" if report["mismatches"] == 0 else "mismatch", "bits": bits,
            "elements": report["elements"], "mismatches": report["mismatches"],
            "mask_identical": report["mask_identical"],
            "first_bad_layer": bad[0]["name"] if bad else None,
            "max_acc_bits": max(op.acc_type.bits for op in graph.weighted_ops),
            "model": model}


def check_csim(variant, model, workdir: Path) -> dict:
    from click.testing import CliRunner

    from codegen.cli import main

    runner = CliRunner()
    ckpt = save_as_checkpoint(model, workdir / f"fuzz{variant.seed}.pt")
    project = workdir / f"prj{variant.seed}"
    started = time.time()
    result = runner.invoke(main, ["hls", "--model", str(ckpt), "--out", str(project), "--images", "1"])
    if result.exit_code != 0:
        return {"csim": "hls failed", "detail": result.output.strip().splitlines()[-1:]}
    result = runner.invoke(main, ["csim", str(project), "--json"])
    try:
        report = json.loads(result.output)
    except json.JSONDecodeError:
        return {"csim": "error", "detail": result.output.strip().splitlines()[-1:]}
    bad = [r["name"] for r in report["layers"] if r["mismatches"]]
    return {"csim": "passed" if report["passed"] else "failed", "csim_mismatches": report["mismatches"],
            "csim_bad_layers": bad[:3], "csim_seconds": round(time.time() - started, 1)}


def run(configs: int, csim: int, start: int, n_images: int) -> dict:
    every = max(1, configs // csim) if csim else 0
    records = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="qgen_fuzz_") as tmp:
        for i in range(configs):
            variant = draw_variant(start + i)
            t0 = time.time()
            record = {"variant": asdict(variant), **check_reference(variant, n_images)}
            model = record.pop("model", None)
            if every and i % every == 0 and sum(1 for r in records if "csim" in r) < csim and model is not None:
                record.update(check_csim(variant, model, Path(tmp)))
            record["seconds"] = round(time.time() - t0, 2)
            records.append(record)
            flag = "" if record["status"] == "ok" and record.get("csim", "passed") == "passed" else "  <--"
            print(f"[{i + 1}/{configs}] {variant.describe()}: {record['status']} "
                  f"{record.get('mismatches', '')} {record.get('csim', '')}{flag}", flush=True)
    return summarize(records, time.time() - started, n_images)


def summarize(records: list[dict], seconds: float, n_images: int) -> dict:
    checked = [r for r in records if r["status"] != "refused"]
    csim = [r for r in records if "csim" in r]
    by_feature = {}
    for key in ("upsample", "bits", "depth", "base_width", "special_channels", "gamma_scale"):
        counts = Counter(str(r["variant"][key]) for r in checked)
        bad = Counter(str(r["variant"][key]) for r in checked if r["status"] == "mismatch")
        by_feature[key] = {v: {"configs": n, "mismatching": bad.get(v, 0)} for v, n in sorted(counts.items())}
    return {
        "configs": len(records),
        "refused": len(records) - len(checked),
        "images_per_config": n_images,
        "codes_compared": sum(r["elements"] for r in checked),
        "mismatching_codes": sum(r["mismatches"] for r in checked),
        "mismatching_configs": sum(r["status"] == "mismatch" for r in checked),
        "masks_differing": sum(not r["mask_identical"] for r in checked),
        "csim_configs": len(csim),
        "csim_passed": sum(r["csim"] == "passed" for r in csim),
        "seconds": round(seconds, 1),
        "by_feature": by_feature,
        "records": records,
    }


def write_markdown(result: dict, path: Path, command: str) -> None:
    goal_ref = result["mismatching_codes"] == 0 and result["configs"] - result["refused"] >= 1000
    goal_csim = result["csim_passed"] == result["csim_configs"] and result["csim_configs"] >= 100
    lines = [
        "# Fuzz: random models through the integer reference and the C-simulation",
        "",
        f"`{command}` ({result['seconds']:.0f} s on this machine).",
        "",
        "| check | result | goal |",
        "|---|---|---|",
        f"| reference vs Brevitas | {result['mismatching_codes']:,} mismatching codes of "
        f"{result['codes_compared']:,} over {result['configs'] - result['refused']} configurations "
        f"({result['mismatching_configs']} with a mismatch, {result['masks_differing']} with a different mask) | "
        f"0 over ≥ 1,000: {'**met**' if goal_ref else 'not met'} |",
        f"| `qgen hls` → `qgen csim` | {result['csim_passed']} of {result['csim_configs']} bit-exact | "
        f"all of ≥ 100: {'**met**' if goal_csim else 'not met'} |",
        f"| refused by the lowering (clear error) | {result['refused']} | |",
        "",
        "Configurations by feature (configurations / with a mismatch):",
        "",
    ]
    for key, values in result["by_feature"].items():
        lines.append(f"- {key}: " + ", ".join(f"{v} {c['configs']}/{c['mismatching']}" for v, c in values.items()))
    bad = [r for r in result["records"] if r["status"] == "mismatch" or r.get("csim", "passed") != "passed"]
    if bad:
        lines += ["", "Failures (reproduce with `tests/randomized.py`: `random_model(draw_variant(seed))`):", ""]
        for r in bad[:30]:
            lines.append(f"- seed {r['variant']['seed']}: {r['status']} {r.get('mismatches', '')} "
                         f"(first {r.get('first_bad_layer')}), csim {r.get('csim', '-')} {r.get('csim_bad_layers', '')}")
    refused = [r for r in result["records"] if r["status"] == "refused"]
    if refused:
        lines += ["", "Refused configurations:", ""]
        lines += [f"- seed {r['variant']['seed']}: {r['reason']}" for r in refused[:10]]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000, help="random configurations (default 1000)")
    parser.add_argument("--csim", type=int, default=100, help="of which through hls + csim (default 100)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed (default 1000)")
    parser.add_argument("--images", type=int, default=2, help="validation images per configuration")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args()
    result = run(args.configs, args.csim, args.seed, args.images)
    args.out.mkdir(parents=True, exist_ok=True)
    command = (f"python bench/fuzz.py --configs {args.configs} --csim {args.csim} --seed {args.seed} "
               f"--images {args.images}")
    (args.out / "fuzz.json").write_text(json.dumps({"command": command, **result}, indent=1) + "\n")
    write_markdown(result, args.out / "fuzz.md", command)
    print(f"{result['mismatching_codes']} mismatching codes over {result['configs']} configurations; "
          f"csim {result['csim_passed']}/{result['csim_configs']} bit-exact")


if __name__ == "__main__":
    main()
