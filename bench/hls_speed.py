"""The hardware engineer's loop on the example (issue 18): `qgen hls`, a template edit, `qgen csim`.

    python bench/hls_speed.py [--model examples/wearable_quantunet.pt] [--repeat 3]

Every figure is the median of --repeat runs, each a fresh `qgen` process (as a user runs them):
- cold `qgen hls`: an empty cache folder (QGEN_CACHE) for each run;
- warm `qgen hls`: the same checkpoint again, caches filled;
- the edit loop: one kernel template edited (a comment line added to the kernel, so its C++
  changes), `qgen hls --templates DIR --force`, then `qgen csim` to the verdict, with warm caches
  (the project before the edit was C-simulated); conv.cpp.j2 writes the example's 3x3 convolutions
  (with the pools and concatenations fused into them), conv_transpose.cpp.j2 its 4 up-samplings;
- `qgen csim` compiling every object (empty object cache, the precompiled header kept as in normal
  use) and `qgen csim` with every object cached;
- a usage error (`qgen hls` with an unknown option).
All runs use `--images 1`. The cache's size is read after every command and compared with its cap.
Next to wall times, the CPU seconds of qgen and the compilers it ran (less sensitive to the load).
Writes bench/results/hls_speed.json and .md. Goals: warm hls <= 5 s, cold hls <= 12 s, edit loop
<= 10 s, usage error <= 0.5 s, cache never above its cap. The machine is shared: the load average
is recorded with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"hls_warm": 5.0, "hls_cold": 12.0, "edit_loop": 10.0, "usage_error": 0.5}


class Bench:
    def __init__(self, work: Path, model: Path):
        self.work, self.model = work, model
        self.cache = work / "cache"
        self.peak_ratio = 0.0            # largest cache size / cap seen after any command

    def qgen(self, *args, cache: Path | None = None, check: bool = True) -> tuple[subprocess.CompletedProcess, float]:
        env = {**os.environ, "QGEN_CACHE": str(cache or self.cache)}
        started, cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run([sys.executable, "-m", "codegen.cli", *map(str, args)], capture_output=True,
                              text=True, cwd=ROOT, env=env)
        seconds = time.perf_counter() - started
        self.last_cpu = _children_cpu() - cpu
        if check and proc.returncode != 0:
            raise SystemExit(f"qgen {' '.join(map(str, args))} failed:\n{proc.stderr}")
        self._watch_cap(cache or self.cache)
        return proc, seconds

    def _watch_cap(self, cache: Path) -> None:
        env = {**os.environ, "QGEN_CACHE": str(cache)}
        info = json.loads(subprocess.run([sys.executable, "-m", "codegen.cli", "cache", "info", "--json"],
                                         capture_output=True, text=True, cwd=ROOT, env=env, check=True).stdout)
        self.peak_ratio = max(self.peak_ratio, info["bytes"] / info["cap_bytes"])

    def hls(self, out: Path, *extra, cache: Path | None = None) -> float:
        return self.qgen("hls", "--model", self.model, "--part", "xc7z020", "--out", out, "--images", "1",
                         "--force", *extra, cache=cache)[1]

    def hls_cpu(self, out: Path, *extra, cache: Path | None = None) -> tuple[float, float]:
        seconds = self.hls(out, *extra, cache=cache)
        return seconds, self.last_cpu

    def csim(self, project: Path) -> tuple[float, dict]:
        proc, seconds = self.qgen("csim", project, "--json")
        return seconds, json.loads(proc.stdout)


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process and its children (g++ too)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _edit(template: Path, mark: str) -> None:
    """A comment line before the kernel's function (its first line at column 0 that opens a body):
    its C++ changes, its behaviour does not."""
    text = template.read_text()
    at = re.search(r"^(void |\{\{ signature \}\}).*\{\s*$", text, re.MULTILINE).start()
    template.write_text(text[:at] + f"// bench edit {mark}\n" + text[at:])


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "examples" / "wearable_quantunet.pt")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hls_speed")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="qgen-bench-"))
    try:
        bench = Bench(work, args.model.resolve())
        project = work / "prj"
        cold_runs = [bench.hls_cpu(work / f"cold{i}", cache=work / f"cold-cache{i}") for i in range(args.repeat)]
        cold, cold_cpu = [r[0] for r in cold_runs], [r[1] for r in cold_runs]
        bench.hls(project)                                       # fills the bench's cache
        warm_runs = [bench.hls_cpu(project) for _ in range(args.repeat)]
        warm, warm_cpu = [r[0] for r in warm_runs], [r[1] for r in warm_runs]

        shutil.rmtree(bench.cache / "objects", ignore_errors=True)
        bench.csim(project)                                      # the precompiled header, once per machine
        csim_compile = []
        for _ in range(args.repeat):
            shutil.rmtree(bench.cache / "objects", ignore_errors=True)
            seconds, report = bench.csim(project)
            csim_compile.append((seconds, report["compile_seconds"], report["run_seconds"]))
        csim_cached = [bench.csim(project) for _ in range(args.repeat)]

        templates = work / "templates"
        bench.qgen("templates", "export", templates)
        bench.hls(project, "--templates", templates)             # unedited copy: nothing to compile
        bench.csim(project)
        loops = {}
        for name in ("conv.cpp.j2", "conv_transpose.cpp.j2"):
            runs = []
            for i in range(args.repeat):
                _edit(templates / "kernels" / name, f"{name} {i}")
                hls_s, hls_cpu = bench.hls_cpu(project, "--templates", templates)
                csim_s, report = bench.csim(project)
                runs.append({"hls": hls_s, "csim": csim_s, "total": hls_s + csim_s, "passed": report["passed"],
                             "compile": report["compile_seconds"], "run": report["run_seconds"],
                             "cpu": hls_cpu + bench.last_cpu})
            loops[name] = {k: _median([r[k] for r in runs]) for k in ("hls", "csim", "total", "compile", "run", "cpu")}
            loops[name]["passed"] = all(r["passed"] for r in runs)

        usage = []
        for _ in range(5):
            proc, seconds = bench.qgen("hls", "--no-such-option", check=False)
            assert proc.returncode == 2, proc.stderr
            usage.append(seconds)
        info = json.loads(bench.qgen("cache", "info", "--json")[0].stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = {
        "model": str(args.model), "repeat": args.repeat, "images": 1, "cpu_count": os.cpu_count(),
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "hls_cold_seconds": _median(cold), "hls_warm_seconds": _median(warm),
        "hls_cold_cpu_seconds": _median(cold_cpu), "hls_warm_cpu_seconds": _median(warm_cpu),
        "edit_loop": loops,
        "csim_compile_all": {"total_seconds": _median([c[0] for c in csim_compile]),
                             "compile_seconds": _median([c[1] for c in csim_compile]),
                             "run_seconds": _median([c[2] for c in csim_compile])},
        "csim_all_cached_seconds": _median([c[0] for c in csim_cached]),
        "usage_error_seconds": _median(usage),
        "cache": {"bytes": info["bytes"], "cap_bytes": info["cap_bytes"], "entries": info["entries"],
                  "largest_fraction_of_cap_seen": round(bench.peak_ratio, 3)},
        "runs": {"hls_cold": cold, "hls_warm": warm},
    }
    worst_loop = max(loop["total"] for loop in loops.values())
    result["goals"] = {
        "hls_warm": {"goal": GOALS["hls_warm"], "met": result["hls_warm_seconds"] <= GOALS["hls_warm"]},
        "hls_cold": {"goal": GOALS["hls_cold"], "met": result["hls_cold_seconds"] <= GOALS["hls_cold"]},
        "edit_loop": {"goal": GOALS["edit_loop"], "met": worst_loop <= GOALS["edit_loop"],
                      "met_for": [n for n, loop in loops.items() if loop["total"] <= GOALS["edit_loop"]]},
        "usage_error": {"goal": GOALS["usage_error"], "met": result["usage_error_seconds"] <= GOALS["usage_error"]},
        "cache_within_cap": {"met": bench.peak_ratio <= 1.0},
    }
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = _markdown(result)
    args.out.with_suffix(".md").write_text(md)
    print(md)


def _markdown(r: dict) -> str:
    g = r["goals"]
    yes = {True: "met", False: "**not met**"}
    lines = [f"# The hardware engineer's loop on the example ({r['cpu_count']} cores, median of {r['repeat']})", "",
             f"Load average before / after: {r['load_average_before_after'][0]} / "
             f"{r['load_average_before_after'][1]} (the machine is shared).", "",
             "| step | seconds | goal |", "|---|---|---|",
             f"| `qgen hls`, empty cache ({r['hls_cold_cpu_seconds']} s of CPU) | {r['hls_cold_seconds']} | "
             f"<= 12: {yes[g['hls_cold']['met']]} |",
             f"| `qgen hls`, warm cache ({r['hls_warm_cpu_seconds']} s of CPU) | {r['hls_warm_seconds']} | "
             f"<= 5: {yes[g['hls_warm']['met']]} |"]
    for name, loop in r["edit_loop"].items():
        lines.append(f"| edit `{name}` -> `qgen hls --force` ({loop['hls']}) -> `qgen csim` verdict ({loop['csim']}: "
                     f"compile {loop['compile']}, run {loop['run']}); {loop['cpu']} s of CPU | {loop['total']} | "
                     f"<= 10: {yes[loop['total'] <= GOALS['edit_loop']]} |")
    c = r["csim_compile_all"]
    lines += [f"| `qgen csim`, every object compiled (compile {c['compile_seconds']}, run {c['run_seconds']}) | "
              f"{c['total_seconds']} | |",
              f"| `qgen csim`, every object cached | {r['csim_all_cached_seconds']} | |",
              f"| usage error (`qgen hls --no-such-option`) | {r['usage_error_seconds']} | <= 0.5: "
              f"{yes[g['usage_error']['met']]} |", "",
              f"Cache after the bench: {r['cache']['bytes'] / 2**20:.0f} MiB in {r['cache']['entries']} entries; "
              f"the largest size seen after any command was {100 * r['cache']['largest_fraction_of_cap_seen']:.0f} % "
              f"of the cap ({r['cache']['cap_bytes'] / 2**30:.1f} GiB): {yes[g['cache_within_cap']['met']]}.", "",
              "Bit-exact after every edit: " + ", ".join(f"{n} {loop['passed']}" for n, loop in r["edit_loop"].items())
              + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
