"""C-simulation of a generated project with g++ (no Xilinx install), or with Vitis when present.

The testbench prints one `QGEN_RESULT name elements mismatches first expected got` line per check
and `QGEN_SUMMARY passed mismatches`; both runners parse those lines into the same report.
Objects are cached per source file, so a re-run after editing one kernel recompiles only that one.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import QgenError
from .hls.project import load_project

BUILD_DIR = "csim_build"
OPT_FLAGS = ["-O2", "-w"]


def ap_types_dir() -> Path:
    """Xilinx's open ap_types headers as shipped inside the installed hls4ml package."""
    try:
        import hls4ml
    except ImportError:
        raise QgenError("C-simulation needs the ap_types headers shipped with hls4ml: pip install hls4ml") from None
    path = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").is_file():
        raise QgenError(f"hls4ml is installed but has no ap_types headers at {path}")
    return path


def find_compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++")
    if not cxx or not shutil.which(cxx):
        raise QgenError("g++ not found: install a C++ compiler (e.g. apt install g++) or set CXX")
    return cxx


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


def _compile(cxx: str, source: Path, obj: Path, flags: list[str], cwd: Path, headers_mtime: float) -> None:
    # every kernel includes the shared headers: any newer header invalidates every object
    if obj.exists() and obj.stat().st_mtime >= max(source.stat().st_mtime, headers_mtime):
        return
    obj.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([cxx, *flags, "-c", str(source), "-o", str(obj)], cwd=cwd,
                            capture_output=True, text=True)
    if result.returncode != 0:
        first = next((l for l in result.stderr.splitlines() if "error" in l), result.stderr.strip()[:300])
        raise QgenError(f"g++ failed on {source.relative_to(cwd)}: {first}")


def _newest_header(root: Path) -> float:
    return max((h.stat().st_mtime for h in (root / "firmware").rglob("*.h")), default=0.0)



def cache_dir() -> Path:
    return Path(os.environ.get("QGEN_CACHE", Path.home() / ".cache" / "qgen"))


def _precompiled_header(cxx: str, root: Path, header: Path, flags: list[str]) -> list[str]:
    """Precompile the project's common header (ap_int.h and hls_stream.h): parsing them is most of
    a kernel's compile time. Shared by every project with the same header, compiler and flags.
    Returns the flags that make every translation unit start from it."""
    version = subprocess.run([cxx, "-dumpfullversion"], capture_output=True, text=True).stdout.strip()
    key = hashlib.sha256("\0".join([header.read_text(), cxx, version, *flags]).encode()).hexdigest()[:16]
    pch_dir = cache_dir() / "pch" / key
    gch = pch_dir / (header.name + ".gch")
    if not gch.exists():
        pch_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(header, pch_dir / header.name)
        tmp = gch.with_suffix(f".gch.{os.getpid()}.tmp")
        result = subprocess.run([cxx, *flags, "-x", "c++-header", str(pch_dir / header.name), "-o", str(tmp)],
                                cwd=root, capture_output=True, text=True)
        if result.returncode != 0:   # not fatal: every file then parses the headers itself
            tmp.unlink(missing_ok=True)
            return []
        os.replace(tmp, gch)
    return [f"-I{pch_dir}", "-include", header.name]


def build(project: str | Path, jobs: int | None = None) -> tuple[Path, float]:
    """Compile the project's kernels and testbench; returns (executable, seconds)."""
    root, manifest = load_project(project)
    root = root.resolve()
    cxx = find_compiler()
    flags = ["-std=c++14", *OPT_FLAGS, f"-I{ap_types_dir()}", *(f"-I{d}" for d in manifest["include_dirs"]),
             *(f"-D{k}={v}" for k, v in manifest.get("defines", {}).items())]
    started = time.time()
    if manifest.get("precompiled_header"):
        flags = _precompiled_header(cxx, root, root / manifest["precompiled_header"], flags) + flags
    sources = [root / s for s in manifest["sources"]] + [root / manifest["testbench"]]
    missing = [s for s in sources if not s.is_file()]
    if missing:
        raise QgenError(f"project file missing: {missing[0]}")
    build_dir = root / BUILD_DIR
    objects = [build_dir / (s.relative_to(root).as_posix().replace("/", "__") + ".o") for s in sources]
    headers_mtime = _newest_header(root)
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        list(pool.map(lambda so: _compile(cxx, so[0], so[1], flags, root, headers_mtime), zip(sources, objects)))
    exe = build_dir / "testbench"
    result = subprocess.run([cxx, *map(str, objects), "-o", str(exe)], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise QgenError(f"linking the testbench failed: {result.stderr.strip().splitlines()[0]}")
    return exe, time.time() - started


def run_gxx(project: str | Path) -> dict:
    root, manifest = load_project(project)
    exe, compile_seconds = build(root)
    started = time.time()
    result = subprocess.run([str(exe)], cwd=root, capture_output=True, text=True)
    run_seconds = time.time() - started
    if "QGEN_ERROR" in result.stderr:
        raise QgenError(result.stderr.strip().splitlines()[0].replace("QGEN_ERROR ", "testbench: "))
    report = parse_results(result.stdout)
    if result.returncode not in (0, 1):
        raise QgenError(f"the testbench crashed (exit {result.returncode})")
    return {**report, "tool": "g++", "images": manifest["images"], "compile_seconds": round(compile_seconds, 2),
            "run_seconds": round(run_seconds, 2)}


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
