"""Speed of the template backend on the example: `qgen hls`, then `qgen csim` compile and run.

    python bench/hls_speed.py [--model examples/wearable_quantunet.pt]

Targets (issue 4): `qgen hls` < 5 s; C-simulation of one 128x128 image including compile < 60 s
on 2 cores. Writes bench/results/hls_speed.json and .md. The compile is measured from a cold
object cache (the precompiled header is built once per machine and kept, as in normal use).
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


def qgen(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, check=True)


def cpp_lines(project: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in (project / "firmware").rglob("*")
               if p.suffix in (".cpp", ".h") and "ap_types" not in p.parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=ROOT / "examples" / "wearable_quantunet.pt")
    parser.add_argument("--out", default=ROOT / "bench" / "results" / "hls_speed")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qgen-bench-"))
    try:
        project = work / "prj"
        started = time.time()
        qgen("hls", "--model", args.model, "--out", project, "--images", "1")
        hls_seconds = time.time() - started
        started = time.time()
        report = json.loads(qgen("csim", project, "--json").stdout)
        csim_seconds = time.time() - started
        started = time.time()
        subprocess.run([sys.executable, "-c", "import torch, brevitas.nn"], check=True)
        import_seconds = time.time() - started
        result = {
            "model": str(args.model), "hls_seconds": round(hls_seconds, 2),
            "import_torch_brevitas_seconds": round(import_seconds, 2),
            "csim_total_seconds": round(csim_seconds, 2), "csim_compile_seconds": report["compile_seconds"],
            "csim_run_seconds": report["run_seconds"], "images": report["images"], "passed": report["passed"],
            "generated_cpp_lines": cpp_lines(project),
            "targets": {"hls_seconds": 5, "csim_one_image_seconds": 60},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["meets_targets"] = result["hls_seconds"] < 5 and result["csim_total_seconds"] < 60
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = "\n".join(["# Template backend speed (example checkpoint, 2 cores)", "",
                    "| step | seconds | target |", "|---|---|---|",
                    f"| qgen hls | {result['hls_seconds']} | < 5 |",
                    f"| ... of which importing torch + Brevitas | {result['import_torch_brevitas_seconds']} | |",
                    f"| qgen csim: compile | {result['csim_compile_seconds']} | |",
                    f"| qgen csim: run ({result['images']} image) | {result['csim_run_seconds']} | |",
                    f"| qgen csim total | {result['csim_total_seconds']} | < 60 |", "",
                    f"Generated C++: {result['generated_cpp_lines']:,} lines. Bit-exact: {result['passed']}. "
                    f"Targets met: {result['meets_targets']}.",
                    "", "Every command that reads a checkpoint rebuilds the Brevitas model, so importing torch and",
                    "Brevitas is a floor under `qgen hls` that qgen's own work (lowering, fitting, rendering, goldens)",
                    "adds to.", ""])
    out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
