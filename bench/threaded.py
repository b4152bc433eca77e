"""The threaded run (`qgen csim --threaded`) as the check of the cycle model on the code itself.

1. The shipped example: the real kernels in threads over bounded FIFOs of the declared depths must
   complete bit-exactly (goal: under 30 s), and halving any skip FIFO must deadlock, naming the
   kernels that wait.
2. Random models (tests/randomized.py `draw_variant`, fitted folding): for every skip FIFO, the
   smallest depth at which the threaded run completes (bisection, the other FIFOs as declared),
   against the C-order backlog `qgen hls` computes as the lower bound of its sizing
   (codegen.hls.fifo.required_depths) and the depth it declared. A kernel in a thread reads and
   writes in program order, so the two must agree; the model writes an iteration's outputs at once
   while the split kernel writes its copies one after the other, so a skip written after its
   sibling needs one token less.

    python bench/threaded.py                 # the example and 20 random models
    python bench/threaded.py --models 5

Results: bench/results/threaded.md and threaded.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

import torch  # noqa: E402

torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402

from codegen.cli import main as qgen  # noqa: E402
from codegen.hls.design import build_design  # noqa: E402
from codegen.hls.fifo import required_depths  # noqa: E402
from codegen.hls.folding import Folding  # noqa: E402
from codegen.ir.frontend import lower_model  # noqa: E402
from codegen.pipeline import lower  # noqa: E402
from codegen.threaded import run_threaded  # noqa: E402
from tests.randomized import draw_variant, random_model, save_as_checkpoint  # noqa: E402

RESULTS = ROOT / "bench" / "results"
EXAMPLE = ROOT / "examples" / "wearable_quantunet.pt"


def generate(checkpoint: Path, out: Path) -> dict:
    result = CliRunner().invoke(qgen, ["hls", "--model", str(checkpoint), "--out", str(out), "--force", "--json"])
    if result.exit_code != 0:
        raise RuntimeError(result.output.strip().splitlines()[-1])
    return json.loads(result.stdout)


def skip_fifos(project: Path, graph) -> dict[str, dict]:
    """Skip FIFO -> declared depth, C-order backlog, and whether the split writes it after a sibling."""
    design = build_design(graph, Folding.load(project / "folding.json"))
    declared = {f["name"]: f["depth"] for f in json.loads((project / "schedule.json").read_text())["streams"]}
    return {name: {"declared": declared[name], "c_order": need,
                   "after_sibling": design.producer(name).outputs.index(name) > 0}
            for name, need in required_depths(design).items()}


def completes(project: Path, depths: dict[str, int]) -> bool:
    return not run_threaded(project, depths)["deadlock"]


def smallest_completing(project: Path, fifo: str, hi: int) -> int:
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if completes(project, {fifo: mid}):
            hi = mid
        else:
            lo = mid + 1
    return lo


def bench_example(tmp: Path) -> dict:
    project = tmp / "example"
    generate(EXAMPLE, project)
    started = time.time()
    report = run_threaded(project)
    first = round(time.time() - started, 2)
    started = time.time()
    run_threaded(project)                    # warm: objects built
    warm = round(time.time() - started, 2)
    skips = skip_fifos(project, lower(EXAMPLE).graph)
    halved = {}
    for name, s in skips.items():
        r = run_threaded(project, {name: s["declared"] // 2})
        halved[name] = {"depth": s["declared"] // 2, "deadlock": r["deadlock"],
                        "on_it": [f"{b['kernel']} ({b['state']})" for b in r["blocked"] if b["fifo"] == name],
                        "waiting": len(r["blocked"])}
    return {"passed": report["passed"], "deadlock": report["deadlock"], "mismatches": report["mismatches"],
            "seconds_cold": first, "seconds_warm": warm, "compile_seconds": report["compile_seconds"], "run_seconds": report["run_seconds"],
            "skips": skips, "halved": halved}


def bench_random(models: int, seed: int, tmp: Path) -> list[dict]:
    records = []
    for i in range(models):
        variant = draw_variant(seed + i)
        model, _ = random_model(variant)
        ckpt = save_as_checkpoint(model, tmp / f"m{variant.seed}.pt")
        project = tmp / f"prj{variant.seed}"
        generate(ckpt, project)
        passed = run_threaded(project)
        skips = skip_fifos(project, lower_model(model, f"m{variant.seed}"))
        for name, s in skips.items():
            s["threaded_min"] = smallest_completing(project, name, max(2, s["declared"]))
            s["expected"] = s["c_order"] - 1 if s["after_sibling"] else s["c_order"]
            s["agrees"] = s["threaded_min"] == s["expected"]
        record = {"variant": asdict(variant), "passed": passed["passed"], "skips": skips}
        records.append(record)
        print(f"[{i + 1}/{models}] {variant.describe()}: passed {passed['passed']}, "
              + ", ".join(f"{n}: {s['threaded_min']} vs {s['expected']}" for n, s in skips.items()), flush=True)
    return records


def write_markdown(result: dict, path: Path) -> None:
    ex, rnd = result["example"], result["random"]
    skips = [s for r in rnd for s in r["skips"].values()]
    agree = sum(s["agrees"] for s in skips)
    lines = ["# The threaded run: the real kernels with bounded FIFOs", "",
             f"Command: `{result['command']}`.", "",
             "| check | result | goal |", "|---|---|---|",
             f"| example, declared depths | {'bit-exact' if ex['passed'] else 'FAILED'}, "
             f"{'deadlock' if ex['deadlock'] else 'no deadlock'}; {ex['seconds_warm']:.1f} s with the kernels "
             f"compiled, {ex['seconds_cold']:.1f} s from scratch (compile {ex['compile_seconds']:.1f} s, run "
             f"{ex['run_seconds']:.1f} s) | passes in < 30 s: "
             f"{'**met**' if ex['passed'] and ex['seconds_warm'] < 30 else 'not met'} |",
             f"| example, each skip FIFO halved | {sum(h['deadlock'] for h in ex['halved'].values())} of "
             f"{len(ex['halved'])} deadlock, waiting kernels named | all: "
             f"{'**met**' if all(h['deadlock'] for h in ex['halved'].values()) else 'not met'} |",
             f"| random models: smallest completing skip depth = C-order backlog | {agree} of {len(skips)} skip "
             f"FIFOs over {len(rnd)} models ({sum(r['passed'] for r in rnd)} bit-exact at the declared depths) | "
             f"all: {'**met**' if agree == len(skips) and skips else 'not met'} |", "",
             "Example skip FIFOs:", "", "| FIFO | declared | C-order backlog | halved | waiting on it |",
             "|---|---|---|---|---|"]
    for name, s in ex["skips"].items():
        h = ex["halved"][name]
        lines.append(f"| {name} | {s['declared']:,} | {s['c_order']:,} | {h['depth']:,}: "
                     f"{'deadlock' if h['deadlock'] else 'completes'} ({h['waiting']} kernels wait) | "
                     f"{', '.join(h['on_it'])} |")
    bad = [(r["variant"]["seed"], n, s) for r in rnd for n, s in r["skips"].items() if not s["agrees"]]
    if bad:
        lines += ["", "Disagreements:", ""] + [f"- seed {seed}, {n}: threaded {s['threaded_min']}, expected "
                                               f"{s['expected']} (C-order {s['c_order']})" for seed, n, s in bad]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qgen_threaded_") as tmp:
        result = {"command": f"python bench/threaded.py --models {args.models} --seed {args.seed}",
                  "example": bench_example(Path(tmp)), "random": bench_random(args.models, args.seed, Path(tmp))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "threaded.json").write_text(json.dumps(result, indent=1) + "\n")
    write_markdown(result, args.out / "threaded.md")
    print((args.out / "threaded.md").read_text())


if __name__ == "__main__":
    main()
