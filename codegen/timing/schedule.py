"""A kernel's schedule: which loop iterations read and write which stream.

Every generated kernel is one flattened loop pipelined at II=1, so iteration i issues in cycle i
when nothing stalls, and an iteration's write leaves the pipeline `depth` cycles after its read.
Each op describes its own loop nest here (`Op.schedule`, next to its template and cost model);
the input and split kernels describe theirs in `codegen/hls/design.py`.

On disk (`schedule.json` in a project) the iteration indices of each port are stored as
arithmetic progressions `[start, step, count]`, which is how loop nests read and write: a conv
reads every NF*SF-th iteration of each row, and so on. The file is checked on load like any
other input (`model_from_json`): it may have been edited or damaged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import QgenError

SCHEDULE_FORMAT = "qgen-schedule"
MAX_ITERATIONS = 1 << 40            # per kernel and frame
MAX_TOKENS = 20_000_000             # reads + writes per frame, all streams: keeps a hostile file from exhausting memory
MAX_SEGMENTS = 1_000_000
MAX_DEPTH = 1 << 30                 # FIFO depth and pipeline depth

# Pipeline depths are estimates; a real pipeline may be deeper. Analyses that must hold whatever the
# tool builds (FIFO read-ahead, loop-carried buffer distances) assume up to this much.
DEPTH_MARGIN_FACTOR = 2
DEPTH_MARGIN_STAGES = 4


def plausible_depth(depth: int) -> int:
    """The deepest pipeline an estimate of `depth` stages may turn out to be."""
    return DEPTH_MARGIN_FACTOR * depth + DEPTH_MARGIN_STAGES


@dataclass
class Schedule:
    """One frame of a kernel's pipelined loop (II=1 unless `ii` says otherwise)."""
    iterations: int                 # loop iterations per frame
    depth: int                      # estimated pipeline depth: cycles from an iteration's issue to its write
    reads: list[np.ndarray]         # per input port: increasing iteration indices that read one token
    writes: list[np.ndarray]        # per output port: increasing iteration indices that write one token
    ii: int = 1

    @property
    def frame_cycles(self) -> int:
        """Cycles of one invocation alone: every iteration issued, then the pipeline drained."""
        return self.iterations * self.ii + self.depth


@dataclass
class TimedKernel:
    name: str
    inputs: list[str]
    outputs: list[str]
    schedule: Schedule


@dataclass
class TimingModel:
    """Kernels, their schedules, and the FIFOs that join them (external = an AXI port)."""
    kernels: list[TimedKernel]
    depths: dict[str, int]                      # every internal stream's declared depth
    external: set[str] = field(default_factory=set)
    clock_ns: float = 10.0

    def kernel(self, name: str) -> TimedKernel:
        return next(k for k in self.kernels if k.name == name)


# ---- building schedules -------------------------------------------------------------------------

def raster(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every position of an h x w raster walk."""
    return np.divmod(np.arange(h * w, dtype=np.int64), w)


def pixelwise(pixels: int, inputs: int, outputs: int, depth: int = 2) -> Schedule:
    """One pixel per iteration: every input read and every output written in each iteration."""
    every = np.arange(pixels, dtype=np.int64)
    return Schedule(pixels, depth, [every] * inputs, [every] * outputs)


# ---- JSON ---------------------------------------------------------------------------------------

def progressions(idx: np.ndarray) -> list[list[int]]:
    """Increasing indices as [start, step, count] runs (loop nests give few runs)."""
    idx = np.asarray(idx, dtype=np.int64)
    n = idx.size
    if n == 0:
        return []
    d = np.diff(idx)
    # runs of equal differences: d[a:b] all equal s covers elements a..b
    cuts = np.flatnonzero(np.r_[True, d[1:] != d[:-1], True]) if d.size else np.zeros(1, np.int64)
    runs, pos = [], 0
    for a, b in zip(cuts[:-1], cuts[1:]):
        a = max(int(a), pos)
        if a >= b:
            continue
        runs.append([int(idx[a]), int(d[a]), int(b - a + 1)])
        pos = int(b) + 1
    if pos < n:
        runs.append([int(idx[pos]), 1, 1])
    return runs


def expand(runs) -> np.ndarray:
    if not runs:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([start + step * np.arange(count, dtype=np.int64) for start, step, count in runs])


def model_to_json(model: TimingModel) -> dict:
    return {
        "format": SCHEDULE_FORMAT,
        "version": 1,
        "clock_ns": model.clock_ns,
        "streams": [{"name": n, "depth": int(d)} for n, d in model.depths.items()],
        "external": sorted(model.external),
        "kernels": [{"name": k.name, "inputs": k.inputs, "outputs": k.outputs, "ii": k.schedule.ii,
                     "depth": int(k.schedule.depth), "iterations": int(k.schedule.iterations),
                     "reads": [progressions(a) for a in k.schedule.reads],
                     "writes": [progressions(a) for a in k.schedule.writes]} for k in model.kernels],
    }


def _int(value, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise QgenError(f"schedule: {what} must be an integer in [{lo}, {hi}], got {str(value)[:40]!r}")
    return value


def _name(value, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise QgenError(f"schedule: {what} must be a non-empty name")
    return value


def _list(value, what: str, limit: int = MAX_SEGMENTS) -> list:
    if not isinstance(value, list) or len(value) > limit:
        raise QgenError(f"schedule: {what} must be a list")
    return value


def _named_objects(value, what: str, limit: int):
    """(name, object) for each entry of a list of objects with unique 'name' fields."""
    seen = set()
    for entry in _list(value, f"{what}s", limit):
        if not isinstance(entry, dict):
            raise QgenError(f"schedule: each {what} must be an object")
        name = _name(entry.get("name"), f"{what} name")
        if name in seen:
            raise QgenError(f"schedule: {what} {name!r} declared twice")
        seen.add(name)
        yield name, entry


def _indices(runs, what: str, iterations: int, budget: list[int]) -> np.ndarray:
    runs = _list(runs, what)
    total = 0
    for r in runs:
        if not isinstance(r, list) or len(r) != 3:
            raise QgenError(f"schedule: {what} must hold [start, step, count] triples")
        _int(r[0], f"{what} start", 0, MAX_ITERATIONS)
        _int(r[1], f"{what} step", 1, MAX_ITERATIONS)
        total += _int(r[2], f"{what} count", 0, MAX_TOKENS)
    if total > MAX_TOKENS:
        raise QgenError(f"schedule: {what} has more than {MAX_TOKENS:,} tokens per frame")
    budget[0] -= total
    if budget[0] < 0:
        raise QgenError(f"schedule: more than {MAX_TOKENS:,} tokens per frame in all")
    idx = expand(runs)
    if idx.size and (np.any(np.diff(idx) <= 0) or idx[-1] >= iterations):
        raise QgenError(f"schedule: {what} must be increasing iteration indices below {iterations}")
    return idx


MAX_SCHEDULE_BYTES = 64 << 20


def load_schedule(path) -> TimingModel:
    """A project's schedule.json as a TimingModel, checked like any input (size, JSON, contents)."""
    from pathlib import Path

    from ..safe_io import read_json_input

    path = Path(path)
    if not path.is_file():
        raise QgenError(f"{path} is missing: regenerate the project with `qgen hls` (template backend)")
    data = read_json_input(path, "schedule", MAX_SCHEDULE_BYTES)
    try:
        return model_from_json(data)
    except QgenError as exc:
        raise QgenError(f"{path}: {exc}") from None


def model_from_json(data) -> TimingModel:
    """A TimingModel from schedule.json contents; QgenError on anything malformed."""
    if not isinstance(data, dict) or data.get("format") != SCHEDULE_FORMAT:
        raise QgenError("schedule: not a qgen schedule file")
    if data.get("version") != 1:
        raise QgenError(f"schedule: unsupported version {str(data.get('version'))[:20]!r}")
    clock = data.get("clock_ns")
    if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not 0.01 <= clock <= 1e6:
        raise QgenError("schedule: clock_ns must be a positive number")
    depths = {}
    for name, s in _named_objects(data.get("streams"), "stream", 100_000):
        depths[name] = _int(s.get("depth"), f"depth of {name}", 1, MAX_DEPTH)
    external = set()
    for n in _list(data.get("external"), "external", 100):
        external.add(_name(n, "external stream"))
    kernels = []
    writer, reader = {}, {}
    budget = [MAX_TOKENS]
    for name, k in _named_objects(data.get("kernels"), "kernel", 10_000):
        iterations = _int(k.get("iterations"), f"iterations of {name}", 1, MAX_ITERATIONS)
        depth = _int(k.get("depth"), f"pipeline depth of {name}", 1, MAX_DEPTH)   # a write leaves after its issue
        ii = _int(k.get("ii", 1), f"II of {name}", 1, 1)
        ports = {}
        for side, table in (("inputs", reader), ("outputs", writer)):
            names = [_name(s, f"{side} of {name}") for s in _list(k.get(side), f"{side} of {name}", 64)]
            for s in names:
                if s not in depths and s not in external:
                    raise QgenError(f"schedule: kernel {name} uses undeclared stream {s!r}")
                if s in table:
                    raise QgenError(f"schedule: stream {s!r} has two {'readers' if side == 'inputs' else 'writers'}")
                table[s] = name
            ports[side] = names
        reads = _list(k.get("reads"), f"reads of {name}", 64)
        writes = _list(k.get("writes"), f"writes of {name}", 64)
        if len(reads) != len(ports["inputs"]) or len(writes) != len(ports["outputs"]):
            raise QgenError(f"schedule: kernel {name} needs one read list per input and one write list per output")
        sched = Schedule(iterations, depth,
                         [_indices(r, f"reads of {name}", iterations, budget) for r in reads],
                         [_indices(w, f"writes of {name}", iterations, budget) for w in writes], ii)
        kernels.append(TimedKernel(name, ports["inputs"], ports["outputs"], sched))
    model = TimingModel(kernels, depths, external, float(clock))
    check_model(model)
    return model


def check_model(model: TimingModel) -> None:
    """Every internal stream has one writer and one reader that agree on its tokens per frame."""
    produced, consumed = {}, {}
    for k in model.kernels:
        for s, idx in zip(k.inputs, k.schedule.reads):
            consumed[s] = idx.size
        for s, idx in zip(k.outputs, k.schedule.writes):
            produced[s] = idx.size
    for s in model.depths:
        if s not in produced or s not in consumed:
            raise QgenError(f"schedule: stream {s!r} needs one writer and one reader")
        if produced[s] != consumed[s]:
            raise QgenError(f"schedule: stream {s!r}: {produced[s]:,} tokens written per frame, "
                            f"{consumed[s]:,} read")
    if not model.kernels:
        raise QgenError("schedule: no kernels")
