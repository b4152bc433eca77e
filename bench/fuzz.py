"""Fuzz the lowering with random models: is the integer reference bit-exact with Brevitas, and does
the whole `qgen hls` -> `qgen csim` chain stay bit-exact, on models nobody hand-picked?

Each configuration is a random QuantU-Net drawn by `tests/randomized.py` (`draw_variant(seed)`):
base widths 2-6, depths 1-4, 16x16 or 32x32 inputs with 1 or 3 channels, transposed-conv or
nearest up-sampling, bitwidths random in 2..8 / all 2 / all 8 / alternating, constant and dead
channels (gamma 0), BatchNorm gammas of both signs and several magnitudes. For every configuration:

  (a) the integer reference against Brevitas at every activation quantizer, the logits and the mask,
      on `--images` phantom validation slices;
  (b) for every k-th configuration (`--csim` of them): checkpoint -> `qgen hls` with a random valid
      folding -> `qgen csim` (g++, every layer alone and the whole top), which must pass bit-exactly;
  (c) for the first `--hazards` configurations, each with a random valid folding (fully parallel and
      fully folded layers drawn often: the shortest loop-carried distances): the kernels rendered and
      read by the static hazard check (codegen/hls/hazards.py). Every DEPENDENCE pragma is counted
      by kind, and an `inter false` whose element is loaded again within the bound is unsafe.

    python bench/fuzz.py                        # 1000 configurations, 100 through csim
    python bench/fuzz.py --configs 50 --csim 5  # a quick look
    python bench/fuzz.py --only csim            # redo one part, keep the others' last results

Results: bench/results/fuzz.md and fuzz.json (every configuration, reproducible from its seed).
"""
from __future__ import annotations

import argparse
import json
import shutil
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

import torch  # noqa: E402

torch.set_num_threads(1)   # tiny models: one thread each is fastest, and leaves the other core free

from codegen.errors import QgenError  # noqa: E402
from codegen.hls.design import fusion_plan  # noqa: E402
from codegen.ir.agreement import compare  # noqa: E402
from codegen.ir.frontend import lower_model  # noqa: E402
from quantunet.data import load_split  # noqa: E402
from tests.randomized import draw_variant, random_folding, random_model, save_as_checkpoint  # noqa: E402

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
    graph = lower_model(model, f"fuzz{variant.seed}")
    folding = random_folding(graph, variant.seed)
    mults = Counter(f.mult for f in folding.values())
    head_fused = any(op.weighted for op in fusion_plan(graph, folding)[1].values())   # the head in the conv before it
    folding_path = workdir / f"folding{variant.seed}.json"
    folding_path.write_text(json.dumps(folding.to_json()))
    started = time.time()
    result = runner.invoke(main, ["hls", "--model", str(ckpt), "--out", str(project), "--images", "1",
                                  "--folding", str(folding_path)])
    if result.exit_code != 0:
        return {"csim": "hls failed", "detail": result.output.strip().splitlines()[-1:]}
    result = runner.invoke(main, ["csim", str(project), "--json"])
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return {"csim": "error", "detail": result.output.strip().splitlines()[-1:]}
    bad = [r["name"] for r in report["layers"] if r["mismatches"]]
    return {"csim": "passed" if report["passed"] else "failed", "csim_mismatches": report["mismatches"],
            "csim_bad_layers": bad[:3], "csim_seconds": round(time.time() - started, 1), "mults": dict(mults),
            "head_fused": head_fused}


def check_hazards(variant, model, workdir: Path) -> dict:
    """(c): one random model with a random valid folding, rendered and read by the hazard check."""
    from codegen.hls.design import build_design
    from codegen.hls.hazards import check_units, parse_pragmas
    from codegen.hls.lint import lint_project, parse_kernels
    from codegen.hls.project import HlsRequest, render_project, write_files
    from codegen.hls.render import Renderer
    from codegen.parts import resolve_part

    graph = lower_model(model, f"fuzz{variant.seed}")
    design = build_design(graph, random_folding(graph, variant.seed))
    root = workdir / f"hz{variant.seed}"
    write_files(root, render_project(design, HlsRequest(resolve_part("xc7z020"), 10.0, 1), Renderer()))
    units = parse_kernels(root)
    buffers = {k.source: {b.array: b for b in k.carried_buffers(design)} for k in design.kernels}
    hazards = check_units(root, units, buffers)
    lint = lint_project(root, units)
    sites = Counter()
    unsafe = within_depth = 0
    for kernel in design.kernels:       # every DEPENDENCE pragma as generated, against the op's figure
        for pragma in parse_pragmas((root / kernel.source).read_text()):
            if pragma.directive != "DEPENDENCE":
                continue
            buffer = buffers[kernel.source].get(pragma.get("variable"))
            kind = "inter false" if pragma.get("false") else "inter true distance"
            sites[kind] += 1
            if kind == "inter false" and (buffer is None or buffer.distance <= buffer.bound):
                unsafe += 1
            if kind == "inter false" and (buffer is None or buffer.distance <= buffer.depth):
                within_depth += 1
        for buffer in kernel.carried_buffers(design):
            if buffer.storage == "registers":
                sites["registers"] += 1
    shutil.rmtree(root, ignore_errors=True)
    return {"lint": lint, "hazards": hazards,
            "sites": dict(sites), "unsafe": unsafe, "within_depth": within_depth,
            "parallel_layers": sum(design.folding[op.name].pe * design.folding[op.name].simd ==
                                   op.fold_dims()[0] * op.fold_dims()[1] for op in graph.weighted_ops)}


def run_hazards(configs: int, start: int) -> dict:
    """(c): the first `configs` configurations, random foldings, through the static hazard check."""
    records = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="qgen_hazards_") as tmp:
        for i in range(configs):
            variant = draw_variant(start + i)
            model, _ = random_model(variant)
            record = {"variant": asdict(variant), **check_hazards(variant, model, Path(tmp))}
            records.append(record)
            flag = "" if not record["hazards"] and not record["unsafe"] else "  <--"
            print(f"[hazards {i + 1}/{configs}] {variant.describe()}: {len(record['hazards'])} hazards, "
                  f"sites {record['sites']}{flag}", flush=True)
    sites = Counter()
    for r in records:
        sites.update(r["sites"])
    return {"configs": len(records), "sites": dict(sites), "unsafe_sites": sum(r["unsafe"] for r in records),
            "sites_within_depth": sum(r["within_depth"] for r in records),
            "configs_with_hazards": sum(bool(r["hazards"]) for r in records),
            "hazards": [h for r in records for h in r["hazards"]][:50],
            "seconds": round(time.time() - started, 1), "records": records}


def run_reference(configs: int, start: int, n_images: int) -> dict:
    """(a): every configuration, reference vs Brevitas."""
    records = []
    started = time.time()
    for i in range(configs):
        variant = draw_variant(start + i)
        t0 = time.time()
        record = {"variant": asdict(variant), **check_reference(variant, n_images)}
        record.pop("model", None)
        record["seconds"] = round(time.time() - t0, 2)
        records.append(record)
        flag = "" if record["status"] == "ok" else "  <--"
        print(f"[{i + 1}/{configs}] {variant.describe()}: {record['status']} {record.get('mismatches', '')}{flag}",
              flush=True)
    return summarize_reference(records, time.time() - started, n_images)


def run_csim(configs: int, csim: int, start: int, n_images: int) -> dict:
    """(b): every k-th configuration (k = configs / csim) through qgen hls and qgen csim."""
    every = max(1, configs // max(csim, 1))
    seeds = [start + i for i in range(0, configs, every)][:csim]
    records = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="qgen_fuzz_") as tmp:
        for n, seed in enumerate(seeds):
            variant = draw_variant(seed)
            model, _ = random_model(variant)
            record = {"variant": asdict(variant), **check_csim(variant, model, Path(tmp))}
            records.append(record)
            flag = "" if record["csim"] == "passed" else "  <--"
            print(f"[csim {n + 1}/{len(seeds)}] {variant.describe()}: {record['csim']}{flag}", flush=True)
            shutil.rmtree(Path(tmp) / f"prj{seed}", ignore_errors=True)
    mults = Counter()
    for r in records:
        mults.update(r.get("mults", {}))
    return {"configs": len(records), "passed": sum(r["csim"] == "passed" for r in records),
            "seconds": round(time.time() - started, 1), "mults": dict(mults),
            "heads_fused": sum(bool(r.get("head_fused")) for r in records), "records": records}


def summarize_reference(records: list[dict], seconds: float, n_images: int) -> dict:
    checked = [r for r in records if r["status"] != "refused"]
    by_feature = {}
    for key in ("upsample", "bits", "depth", "base_width", "in_channels", "special_channels", "gamma_scale"):
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
        "max_acc_bits": max((r["max_acc_bits"] for r in checked), default=0),
        "seconds": round(seconds, 1),
        "by_feature": by_feature,
        "records": records,
    }


def write_markdown(result: dict, path: Path) -> None:
    ref, csim, hz = result.get("reference"), result.get("csim"), result.get("hazards")
    lines = ["# Fuzz: random models through the integer reference and the C-simulation", ""]
    lines += [f"Commands: {', '.join(f'`{c}`' for c in result.get('commands', []))}.", "",
              "| check | result | goal |", "|---|---|---|"]
    if ref:
        checked = ref["configs"] - ref["refused"]
        met = ref["mismatching_codes"] == 0 and checked >= 1000
        lines.append(f"| reference vs Brevitas | {ref['mismatching_codes']:,} mismatching codes of "
                     f"{ref['codes_compared']:,} over {checked:,} configurations ({ref['mismatching_configs']} with "
                     f"a mismatch, {ref['masks_differing']} with a different mask; {ref['seconds']:.0f} s) | "
                     f"0 over ≥ 1,000: {'**met**' if met else 'not met'} |")
        lines.append(f"| refused by the lowering (clear error) | {ref['refused']} | |")
    if csim:
        met = csim["passed"] == csim["configs"] and csim["configs"] >= 100
        mults = ", ".join(f"{n} {m}" for m, n in sorted(csim.get("mults", {}).items()))
        lines.append(f"| `qgen hls` (random valid folding) → `qgen csim` | {csim['passed']} of {csim['configs']} "
                     f"bit-exact ({csim['seconds']:.0f} s; layers by multiplier: {mults or 'not recorded'}; "
                     f"head inside the conv before it in {csim.get('heads_fused', 0)}) | "
                     f"all of ≥ 100: {'**met**' if met else 'not met'} |")
    if hz:
        met = hz["unsafe_sites"] == 0 and hz["configs"] >= 200
        sites = ", ".join(f"{n:,} {k}" for k, n in sorted(hz["sites"].items()))
        lines.append(f"| hazard check, random valid foldings | {hz['unsafe_sites']} unsafe DEPENDENCE sites of "
                     f"{sum(hz['sites'].values()):,} loop-carried buffers ({sites}) over {hz['configs']} "
                     f"configurations; {hz['configs_with_hazards']} with any hazard ({hz['seconds']:.0f} s) | "
                     f"0 unsafe over ≥ 200: {'**met**' if met else 'not met'} |")
    if ref:
        lines += ["", f"Widest accumulator seen: {ref['max_acc_bits']} bits. Configurations by feature "
                      "(configurations / with a mismatch):", ""]
        for key, values in ref["by_feature"].items():
            lines.append(f"- {key}: " + ", ".join(f"{v}: {c['configs']}/{c['mismatching']}" for v, c in values.items()))
    if hz and hz["hazards"]:
        lines += ["", "Hazards found (first 50):", ""] + [f"- {h}" for h in hz["hazards"]]
    bad = [r for r in (ref or {}).get("records", []) if r["status"] == "mismatch"]
    bad += [r for r in (csim or {}).get("records", []) if r["csim"] != "passed"]
    if bad:
        lines += ["", "Failures (reproduce: `random_model(draw_variant(seed))` in tests/randomized.py):", ""]
        for r in bad[:30]:
            lines.append(f"- seed {r['variant']['seed']}: {r.get('status', '')} {r.get('mismatches', '')} "
                         f"{r.get('first_bad_layer') or ''} {r.get('csim', '')} {r.get('csim_bad_layers', '')}")
    refused = [r for r in (ref or {}).get("records", []) if r["status"] == "refused"]
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
    parser.add_argument("--hazards", type=int, default=200, help="configurations through the hazard check (default 200)")
    parser.add_argument("--only", choices=["reference", "csim", "hazards"], default=None,
                        help="run one part; the others' last results are kept")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args()
    json_path = args.out / "fuzz.json"
    result = json.loads(json_path.read_text()) if args.only and json_path.is_file() else {}
    commands = dict(result.get("command_of", {}))
    base = (f"python bench/fuzz.py --configs {args.configs} --csim {args.csim} --hazards {args.hazards} "
            f"--seed {args.seed} --images {args.images}")
    if args.only in (None, "reference"):
        result["reference"] = run_reference(args.configs, args.seed, args.images)
        commands["reference"] = base + (" --only reference" if args.only else "")
    if args.only in (None, "csim"):
        result["csim"] = run_csim(args.configs, args.csim, args.seed, args.images)
        commands["csim"] = base + (" --only csim" if args.only else "")
    if args.only in (None, "hazards"):
        result["hazards"] = run_hazards(args.hazards, args.seed)
        commands["hazards"] = base + (" --only hazards" if args.only else "")
    result["command_of"] = commands
    result["commands"] = sorted(set(commands.values()))
    args.out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    write_markdown(result, args.out / "fuzz.md")
    ref, csim, hz = result.get("reference"), result.get("csim"), result.get("hazards")
    if hz:
        print(f"hazards: {hz['unsafe_sites']} unsafe sites, {hz['configs_with_hazards']} configurations with hazards")
    if ref:
        print(f"reference: {ref['mismatching_codes']} mismatching codes over {ref['configs']} configurations")
    if csim:
        print(f"csim: {csim['passed']}/{csim['configs']} bit-exact")


if __name__ == "__main__":
    main()
