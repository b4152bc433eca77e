"""C-simulation of a generated project with g++ (no Xilinx install), or with Vitis when present.

The testbench prints one `QGEN_RESULT name elements mismatches first expected got` line per check
and `QGEN_SUMMARY passed mismatches`; both runners parse those lines into the same report.
Objects live in qgen's cache, keyed by the bytes of the source and the headers it includes
(codegen/compile_cache.py): a re-run, or a project written again by `qgen hls --force`, compiles
only the files whose inputs changed. Compiler errors are reported at the template line that
wrote the failing line (codegen/hls/linemap.py).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .cache import cache_root
from .compile_cache import CompileError, compile_object, precompiled_header
from .errors import QgenError
from .hls.linemap import LineMaps, compiler_error
from .hls.project import load_project
from .toolchain import ap_types_dir, find_compiler

BUILD_DIR = "csim_build"
# -O1: on the example the kernels compile ~10 % faster than at -O2 and the testbench runs ~7 % faster
# (measured: ap_int code gains nothing from -O2/-O3 here); values do not depend on it (the tests)
OPT_FLAGS = ["-O1", "-w"]
MAX_SHARDS = 8             # testbench processes: shard 0 the top, the others the layer checks


def parse_results(output: str) -> dict:
    layers, summary = [], None
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["QGEN_RESULT"] and len(parts) == 7:
            name, elements, mismatches, first, expected, got = parts[1], *map(int, parts[2:])
            layers.append({"name": name, "elements": elements, "mismatches": mismatches,
                           "first_mismatch": None if mismatches == 0 or first < 0 else
                           {"index": first, "expected": expected, "got": got}})
        elif parts[:1] == ["QGEN_SUMMARY"] and len(parts) == 3:
            summary = {"passed": parts[1] == "1", "mismatches": int(parts[2])}
    if summary is None:
        raise QgenError("the testbench did not print a QGEN_SUMMARY line (crashed or was edited?)")
    return {**summary, "layers": layers}


def cache_dir() -> Path:
    """qgen's cache folder (QGEN_CACHE, default ~/.cache/qgen); see codegen/cache.py."""
    return cache_root()


def compile_setup(root: Path, manifest: dict, first_flags: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """The compiler and the flags every file of the project is compiled with (the precompiled
    common header first, when the project names one and it builds); `first_flags` go before the
    ap_types include folder (the threaded run's own hls_stream.h)."""
    cxx = find_compiler()
    flags = ["-std=c++14", *OPT_FLAGS, *first_flags, f"-I{ap_types_dir()}",
             *(f"-I{d}" for d in manifest["include_dirs"]),
             *(f"-D{k}={v}" for k, v in manifest.get("defines", {}).items())]
    if manifest.get("precompiled_header"):
        header = manifest["precompiled_header"]
        flags = precompiled_header(cxx, flags, root / header, Path(header).parent.as_posix()) + flags
    return cxx, flags


def compile_sources(root: Path, sources: list[str], cxx: str, flags: list[str], include_dirs: list[str],
                    jobs: int | None = None) -> list[Path]:
    """Objects of the project files `sources` (cached or compiled, in parallel). The first error
    is reported at the template line that wrote the failing line."""
    spill = root / BUILD_DIR
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        futures = [pool.submit(compile_object, cxx, flags, root, s, include_dirs, ap_types_dir(), spill)
                   for s in sources]
        objects, failure = [], None
        for future in futures:
            try:
                objects.append(future.result())
            except CompileError as exc:
                failure = failure or exc
    if failure is not None:      # 'template.cpp.j2:LINE (in firmware/…/x.cpp:LINE): message'
        raise QgenError(compiler_error(failure.stderr, LineMaps.load(root), f"{Path(cxx).name} failed on {failure}"))
    return objects


def build(project: str | Path, jobs: int | None = None, *, testbench: str | None = None,
          first_flags: tuple[str, ...] = (), link_flags: tuple[str, ...] = (),
          variant: str = "") -> tuple[Path, float]:
    """Compile the project's kernels and testbench; returns (executable, seconds).

    Another build of the same project (the threaded run) names its own `testbench`, flags that go
    before the ap_types include folder (`first_flags`, e.g. its own hls_stream.h), and a `variant`
    name: its executable lives in its own folder (objects are cached by content, flags included)."""
    root, manifest = load_project(project)
    root = root.resolve()
    started = time.time()
    cxx, flags = compile_setup(root, manifest, first_flags)
    sources = list(manifest["sources"]) + [testbench or manifest["testbench"]]
    missing = [s for s in sources if not (root / s).is_file()]
    if missing:
        raise QgenError(f"project file missing: {root / missing[0]}")
    build_dir = root / BUILD_DIR / variant if variant else root / BUILD_DIR
    exe = build_dir / "testbench"
    for _ in range(2):
        objects = compile_sources(root, sources, cxx, flags, manifest["include_dirs"], jobs)
        build_dir.mkdir(parents=True, exist_ok=True)        # only once everything compiled
        result = subprocess.run([cxx, *map(str, objects), *link_flags, "-o", str(exe)], cwd=root,
                                capture_output=True, text=True)
        if result.returncode == 0 or all(o.is_file() for o in objects):
            break
        # another qgen process evicted objects from the shared cache before the link (it counts
        # only its own entries as in use): those are misses now, compiled again
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[0]
        raise QgenError(f"linking the testbench failed: {first}")
    return exe, time.time() - started


def run_gxx(project: str | Path, shards: int | None = None) -> dict:
    """Build and run the testbench, its checks split over `shards` processes (default: one per CPU,
    at most MAX_SHARDS), each with its own kernel statics; the shards' reports are joined in order."""
    root, manifest = load_project(project)
    exe, compile_seconds = build(root)
    shards = max(1, min(shards or os.cpu_count() or 1, MAX_SHARDS))
    started = time.time()
    report = _run_shards(root, exe, shards)
    return {**report, "tool": "g++", "images": manifest["images"], "compile_seconds": round(compile_seconds, 2),
            "run_seconds": round(time.time() - started, 2)}


def _run_shards(root: Path, exe: Path, shards: int) -> dict:
    """Shard 0 runs the whole accelerator, shards 1.. the layer checks in contiguous blocks. A
    testbench that does not answer `QGEN_SHARD k n` (an edited template that ignores its arguments)
    ran everything in every process: shard 0's report is then the whole one."""
    args = [[str(exe)]] if shards == 1 else [[str(exe), str(k), str(shards)] for k in range(shards)]
    procs = [subprocess.Popen(a, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for a in args]
    outputs = [(*p.communicate(), p.returncode) for p in procs]
    for stdout, stderr, returncode in outputs:
        if "QGEN_ERROR" in stderr:
            raise QgenError(stderr.strip().splitlines()[0].replace("QGEN_ERROR ", "testbench: "))
    reports = []
    for k, (stdout, _, returncode) in enumerate(outputs):
        if returncode not in (0, 1):
            parse_results(stdout)   # a missing summary says more than the exit status
            raise QgenError(f"the testbench crashed (exit {returncode})")
        reports.append(parse_results(stdout))
        if shards > 1 and f"QGEN_SHARD {k} {shards}" not in stdout:
            return reports[0]
    ordered = reports[1:] + reports[:1]        # layer checks first, the whole accelerator last
    return {"passed": all(r["passed"] for r in reports), "mismatches": sum(r["mismatches"] for r in reports),
            "layers": [layer for r in ordered for layer in r["layers"]]}


def run_vitis(project: str | Path) -> dict:
    """csim_design through the project's own build_prj.tcl, with vitis_hls or vitis-run."""
    root, manifest = load_project(project)
    env = {**os.environ, "QGEN_CSIM": "1", "QGEN_SYNTH": "0", "QGEN_COSIM": "0", "QGEN_EXPORT": "0"}
    script = manifest["tcl"]
    if shutil.which("vitis_hls"):
        cmd = ["vitis_hls", "-f", script]
    elif shutil.which("vitis-run"):
        cmd = ["vitis-run", "--mode", "hls", "--tcl", script]
    else:
        raise QgenError("--tool vitis needs vitis_hls or vitis-run on PATH (source the Vitis settings64.sh)")
    started = time.time()
    result = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    report = parse_results(result.stdout)
    return {**report, "tool": cmd[0], "images": manifest["images"], "run_seconds": round(time.time() - started, 2)}
