"""C-simulation of a generated project with g++ (no Xilinx install), or with Vitis when present.

The testbench prints one `QGEN_RESULT name elements mismatches first expected got` line per check
and `QGEN_SUMMARY passed mismatches`; both runners parse those lines into the same report.
Objects are cached per source file, so a re-run after editing one kernel recompiles only that one.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from .cache import content_key
from .errors import QgenError
from .hls.project import load_project

BUILD_DIR = "csim_build"
OPT_FLAGS = ["-O2", "-w"]


@lru_cache(maxsize=1)
def ap_types_dir() -> Path:
    """Xilinx's open ap_types headers as shipped inside the installed hls4ml package (found without
    importing hls4ml, which takes a quarter of a second)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise QgenError("C-simulation needs the ap_types headers shipped with hls4ml: pip install hls4ml")
    path = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").is_file():
        raise QgenError(f"hls4ml is installed but has no ap_types headers at {path}")
    return path


@lru_cache(maxsize=1)
def ap_types_digest() -> str:
    """The bytes of every ap_types header: part of every key of what was compiled or linted with them."""
    folder = ap_types_dir()
    parts: list[bytes | str] = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            parts += [path.relative_to(folder).as_posix(), path.read_bytes()]
    return content_key(*parts)


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


def _compile(cxx: str, source: Path, build_dir: Path, flags: list[str], cwd: Path, context: bytes) -> Path:
    """Compile `source` unless an object of the very same inputs exists. The cache key is the
    content of the source, of every project header (kernels include the shared ones), the flags and
    the compiler: time stamps can lie (a file edited and then dated back), contents cannot."""
    key = hashlib.sha256(context + b"\0" + source.read_bytes()).hexdigest()[:20]
    stem = source.relative_to(cwd).as_posix().replace("/", "__")
    obj = build_dir / f"{stem}.{key}.o"
    if obj.exists():
        return obj
    build_dir.mkdir(parents=True, exist_ok=True)
    for stale in build_dir.glob(f"{stem}.*.o"):
        stale.unlink(missing_ok=True)
    tmp = obj.with_suffix(f".{os.getpid()}.tmp")
    try:
        result = subprocess.run([cxx, *flags, "-c", str(source), "-o", str(tmp)], cwd=cwd,
                                capture_output=True, text=True)
    except OSError as exc:
        raise QgenError(f"cannot run the compiler '{cxx}': {exc.strerror or exc}") from None
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        try:
            build_dir.rmdir()          # leave no empty cache folder behind a failed first build
        except OSError:
            pass
        first = next((l for l in result.stderr.splitlines() if "error" in l), result.stderr.strip()[:300])
        raise QgenError(f"{Path(cxx).name} failed on {source.relative_to(cwd)}: "
                        f"{first or f'exit status {result.returncode}, no message'}")
    os.replace(tmp, obj)
    return obj


def _compiler_version(cxx: str) -> str:
    """The compiler's own `--version` text: part of every cache key (objects and the PCH)."""
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    except OSError as exc:
        raise QgenError(f"cannot run the compiler '{cxx}': {exc.strerror or exc}") from None


def _build_context(root: Path, cxx: str, version: str, flags: list[str]) -> bytes:
    """What every object depends on besides its own source: headers, flags, compiler identity."""
    digest = hashlib.sha256()
    for part in (cxx, version, *flags):
        digest.update(part.encode() + b"\0")
    for header in sorted((root / "firmware").rglob("*.h")):
        digest.update(header.relative_to(root).as_posix().encode() + b"\0" + header.read_bytes() + b"\0")
    return digest.digest()


def cache_dir() -> Path:
    return Path(os.environ.get("QGEN_CACHE", Path.home() / ".cache" / "qgen"))


def _precompiled_header(cxx: str, version: str, root: Path, header: Path, flags: list[str]) -> list[str]:
    """Precompile the project's common header (ap_int.h and hls_stream.h): parsing them is most of
    a kernel's compile time. Shared by every project with the same header, compiler and flags.
    Returns the flags that make every translation unit start from it."""
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
    version = _compiler_version(cxx)
    if manifest.get("precompiled_header"):
        flags = _precompiled_header(cxx, version, root, root / manifest["precompiled_header"], flags) + flags
    sources = [root / s for s in manifest["sources"]] + [root / manifest["testbench"]]
    missing = [s for s in sources if not s.is_file()]
    if missing:
        raise QgenError(f"project file missing: {missing[0]}")
    build_dir = root / BUILD_DIR
    context = _build_context(root, cxx, version, flags)
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        objects = list(pool.map(lambda s: _compile(cxx, s, build_dir, flags, root, context), sources))
    exe = build_dir / "testbench"
    result = subprocess.run([cxx, *map(str, objects), "-o", str(exe)], cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[0]
        raise QgenError(f"linking the testbench failed: {first}")
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
