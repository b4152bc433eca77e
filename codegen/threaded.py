"""The threaded run (`qgen csim --threaded`): the real kernels, each in a thread, every FIFO bounded.

C-simulation runs kernels one after another over unbounded streams, so it proves values but never
waits: a FIFO too shallow for a skip connection passes there and deadlocks in hardware. Here every
kernel of the dataflow top runs in its own thread over all frames and every FIFO is a blocking
queue of its declared depth (the project's tb/threaded/hls_stream.h stands in for hls_stream.h),
so the kernels wait on each other as the hardware's do; when every unfinished thread waits, the
run has deadlocked and says where. Otherwise every stream and the AXI output are compared with
the goldens bit-exactly, as in C-simulation.

It checks the code, not a model of it: its smallest completing FIFO depths are the C-order
backlogs (a kernel in a thread reads and writes in program order, without the read-ahead of a
pipeline), which `bench/threaded.py` compares with `qgen simulate`'s figures.
"""
from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

from .csim import build, parse_results
from .errors import QgenError
from .hls.project import load_project

VARIANT = "threaded"
RUN_TIMEOUT_S = 1800        # a kernel that loops forever must not hang the command
MAX_DEPTH = 1 << 30         # as schedule.json


def parse_blocked(output: str) -> list[dict]:
    blocked = []
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["QGEN_BLOCKED"] and len(parts) == 4 and parts[3] in ("full", "empty"):
            blocked.append({"kernel": parts[1], "fifo": parts[2], "state": parts[3]})
    return blocked


def run_threaded(project: str | Path, depths: dict[str, int] | None = None) -> dict:
    """Build and run the threaded testbench; `depths` overrides FIFO depths by name.

    Returns csim's report (`passed`, `mismatches`, `layers`, ...) plus `deadlock` and `blocked`
    (kernel, fifo, state) as `qgen simulate --json` gives them."""
    root, manifest = load_project(project)
    testbench, include = manifest.get("threaded_testbench"), manifest.get("threaded_include")
    if not testbench or not include or not (root / testbench).is_file():
        raise QgenError(f"{root} has no threaded testbench: regenerate it with `qgen hls` (template backend)")
    fifos = _declared_fifos(root)
    depths = dict(depths or {})
    for name, depth in depths.items():
        if name not in fifos:
            raise QgenError(f"no FIFO named {name[:60]!r}; FIFOs: {', '.join(sorted(fifos)[:8])}, ...")
        if not 1 <= depth <= MAX_DEPTH:
            raise QgenError(f"FIFO depth of {name} must be 1..{MAX_DEPTH}, got {depth}")
    shim = (root / include / "hls_stream.h").read_bytes()
    # the stand-in hls_stream.h is part of every object's key (the object cache hashes firmware/ only)
    tag = hashlib.sha256(shim).hexdigest()[:16]
    exe, compile_seconds = build(root, testbench=testbench, variant=VARIANT, link_flags=("-pthread",),
                                 first_flags=(f"-I{(root / include).resolve()}", "-pthread",
                                              f"-DQGEN_THREADED_STREAM={tag}"))
    started = time.time()
    try:
        result = subprocess.run([str(exe), *(f"{n}={d}" for n, d in depths.items())], cwd=root,
                                capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise QgenError(f"the threaded run took longer than {RUN_TIMEOUT_S} s (a kernel that never ends?)") from None
    run_seconds = round(time.time() - started, 2)
    if "QGEN_ERROR" in result.stderr:
        raise QgenError(result.stderr.strip().splitlines()[0].replace("QGEN_ERROR ", "threaded testbench: "))
    common = {"tool": "g++ threads", "images": manifest["images"], "fifo_depths": depths,
              "compile_seconds": round(compile_seconds, 2), "run_seconds": run_seconds}
    if "QGEN_DEADLOCK" in result.stdout:
        return {"passed": False, "mismatches": 0, "layers": [], "deadlock": True,
                "blocked": parse_blocked(result.stdout), **common}
    if result.returncode not in (0, 1):
        raise QgenError(f"the threaded testbench crashed (exit {result.returncode})")
    return {**parse_results(result.stdout), "deadlock": False, "blocked": [], **common}


def _declared_fifos(root: Path) -> set[str]:
    """The names of the project's FIFOs (from schedule.json, the timing model's list of them)."""
    from .hls.project import SCHEDULE_FILE
    from .timing.schedule import load_schedule

    return set(load_schedule(root / SCHEDULE_FILE).depths)
