"""End to end on the example: the hls4ml backend vs the template backend, in one run.

    python bench/hls4ml_vs_templates.py [--model examples/wearable_quantunet.pt] [--images 1]

For each backend: `qgen hls` (generation) + `qgen csim` (g++ compile + run on the same golden
images), bit-exactness, and the size of the generated C++ (firmware/, without the ap_types
headers; hls4ml's nnet_utils library counted separately). Goal (issue 5): the template backend at
least 5x faster end to end. Writes bench/results/hls4ml_vs_templates.json and .md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def qgen(*args) -> str:
    return subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, check=True).stdout


def cpp_size(project: Path) -> dict:
    own = library = 0
    lines = 0
    for p in (project / "firmware").rglob("*"):
        if p.suffix not in (".cpp", ".h") or "ap_types" in p.parts:
            continue
        if "nnet_utils" in p.parts:
            library += p.stat().st_size
        else:
            own += p.stat().st_size
            lines += len(p.read_text().splitlines())
    return {"generated_bytes": own, "generated_lines": lines, "library_bytes": library}


def run(backend: str, model: Path, images: int, work: Path) -> dict:
    project = work / backend
    started = time.time()
    qgen("hls", "--backend", backend, "--model", model, "--out", project, "--images", images)
    generate = time.time() - started
    started = time.time()
    report = json.loads(qgen("csim", project, "--json"))
    check = time.time() - started
    return {"generate_seconds": round(generate, 2), "compile_seconds": report["compile_seconds"],
            "run_seconds": report["run_seconds"], "total_seconds": round(generate + check, 2),
            "passed": report["passed"], "mismatches": report["mismatches"], **cpp_size(project)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "examples" / "wearable_quantunet.pt")
    parser.add_argument("--images", type=int, default=1)
    parser.add_argument("--out", default=ROOT / "bench" / "results" / "hls4ml_vs_templates")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qgen-bench-"))
    try:
        results = {b: run(b, args.model, args.images, work) for b in ("templates", "hls4ml")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = results["hls4ml"]["total_seconds"] / results["templates"]["total_seconds"]
    summary = {"model": str(args.model), "images": args.images, **results, "speedup": round(ratio, 2),
               "goal_speedup": 5, "meets_goal": ratio >= 5}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    rows = ["| | templates | hls4ml |", "|---|---|---|"]
    for key in ("generate_seconds", "compile_seconds", "run_seconds", "total_seconds", "passed",
                "generated_lines", "generated_bytes", "library_bytes"):
        rows.append(f"| {key} | {results['templates'][key]} | {results['hls4ml'][key]} |")
    md = (f"# hls4ml vs template backend, end to end ({args.model.name}, {args.images} image)\n\n" + "\n".join(rows)
          + f"\n\nTemplate backend speed-up: {ratio:.1f}x (goal: >= 5x; met: {ratio >= 5}).\n")
    out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
