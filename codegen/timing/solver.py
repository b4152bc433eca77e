"""The cycle-level model solved with numpy: the event engine's times, by fixed point.

Every time in the model is the largest of a few earlier times plus a positive offset: an
iteration issues at least one cycle after the previous one, a read one cycle after its token's
write, a write one cycle after the read that freed its slot, and so on (codegen/timing/events.py).
When the design does not deadlock, those equations have exactly one solution, the event engine's.

Given the times of its neighbours, a kernel's issue times are a running maximum,
T_j = i_j + max(0, max over j' <= j of (c_j' - i_j')) with c the earliest cycle its reads and writes
allow, which numpy computes for all iterations of all frames at once. So the solver sweeps the
kernels, forwards then backwards, each solved whole from its neighbours' latest times (unknown
ones taken as -infinity), re-solving only kernels whose neighbours changed, until nothing changes.
A sweep that changes nothing is a solution, hence *the* solution: identical to the event engine's
to the cycle, stall causes included. On the generated designs that takes 2-3 sweeps.

A design that deadlocks has no solution, and its times grow with every sweep; a design whose
FIFOs are so shallow that backpressure travels a few tokens per sweep needs many. Both exhaust
the work budget (WORK_BUDGET times every slot once), and `solve` returns None: the event engine
then gives the answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .events import EMPTY, FULL, Trace, port_groups
from .schedule import TimingModel

NEVER = -(1 << 62)              # "no constraint": earlier than any cycle
WORK_BUDGET = 8                 # kernel solves, in units of "every slot of every kernel once"


@dataclass
class _Kernel:
    """One kernel's slots (iterations that read, write or wait) over all frames, as index arrays."""
    name: str
    inputs: list[str]
    outputs: list[str]
    depth: int
    slots: np.ndarray                       # iteration index of every slot, all frames
    reads: list[np.ndarray]                 # per input port: slot of each token it reads
    writes: list[np.ndarray]                # stall: per output port, slot whose cycle writes each token
    marks: np.ndarray = field(default=None)     # flush: slot issuing each write iteration x
    anchors: np.ndarray = field(default=None)   # flush: slot x + depth, where write x must have left
    port_writes: list[np.ndarray] = field(default_factory=list)   # flush: per output port, its x's


def _over_frames(per_frame: np.ndarray, frames: int, frame_len: int) -> np.ndarray:
    return (per_frame[None, :] + frame_len * np.arange(frames, dtype=np.int64)[:, None]).ravel()


def _positions(slots: np.ndarray, frames: int, indices: np.ndarray) -> np.ndarray:
    """Positions in the all-frames slot array of per-frame iteration `indices` (all in `slots`)."""
    return _over_frames(np.searchsorted(slots, indices), frames, slots.size)


_PREPARED: dict[tuple, tuple] = {}     # (id(model.kernels), frames, style, margin) -> (model.kernels, prepared)
PREPARED_KEPT = 8


def prepare_once(model: TimingModel, frames: int, style: str, depth_factor: float, depth_add: int) -> list[_Kernel]:
    """`prepare`, kept for the last few models: a search over FIFO depths solves the same kernels
    many times with other depths only. The entry holds the kernel list, so its id stays its own."""
    key = (id(model.kernels), frames, style, depth_factor, depth_add)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is model.kernels:
        return hit[1]
    prepared = prepare(model, frames, style, depth_factor, depth_add)
    while len(_PREPARED) >= PREPARED_KEPT:
        _PREPARED.pop(next(iter(_PREPARED)))
    _PREPARED[key] = (model.kernels, prepared)
    return prepared


def prepare(model: TimingModel, frames: int, style: str, depth_factor: float, depth_add: int) -> list[_Kernel]:
    kernels = []
    for k in model.kernels:
        sched = k.schedule
        depth = int(round(sched.depth * depth_factor)) + depth_add
        frame_len = sched.iterations + depth
        if style == "stall":        # a write leaves in lock step with the issue of iteration w + depth
            slots, _ = port_groups(list(sched.reads) + [w + depth for w in sched.writes])
            kernels.append(_Kernel(k.name, k.inputs, k.outputs, depth, _over_frames(slots, frames, frame_len),
                                   [_positions(slots, frames, r) for r in sched.reads],
                                   [_positions(slots, frames, w + depth) for w in sched.writes]))
            continue
        written, ports = port_groups(list(sched.writes))
        slots, _ = port_groups(list(sched.reads) + [written, written + depth])
        every = np.tile(ports, frames)
        kernels.append(_Kernel(k.name, k.inputs, k.outputs, depth, _over_frames(slots, frames, frame_len),
                               [_positions(slots, frames, r) for r in sched.reads], [],
                               _positions(slots, frames, written), _positions(slots, frames, written + depth),
                               [np.flatnonzero(every >> p & 1) for p in range(len(k.outputs))]))
    return kernels


def _running_issue(slots: np.ndarray, earliest: np.ndarray) -> np.ndarray:
    """T_j = max(T_j-1 + i_j - i_j-1, earliest_j), starting from T = -1 before iteration -1."""
    return slots + np.maximum(np.maximum.accumulate(earliest - slots), 0)


def _read_bounds(k: _Kernel, writes: dict, size: int) -> np.ndarray:
    """Per slot: the earliest cycle its reads allow (one cycle after each token's write)."""
    earliest = np.full(size, NEVER, np.int64)
    for port, stream in enumerate(k.inputs):
        w = writes.get(stream)
        if w is not None:
            pos = k.reads[port]
            earliest[pos] = np.maximum(earliest[pos], w + 1)
    return earliest


def _space_bounds(positions: list[np.ndarray], k: _Kernel, reads: dict, depths: dict, size: int) -> np.ndarray:
    """Per write: the earliest cycle the FIFO has room (one cycle after token n - depth was read)."""
    earliest = np.full(size, NEVER, np.int64)
    for port, stream in enumerate(k.outputs):
        r, d, pos = reads.get(stream), depths[stream], positions[port]
        if r is not None and d < pos.size:
            earliest[pos[d:]] = np.maximum(earliest[pos[d:]], r[:pos.size - d] + 1)
    return earliest


def _solve_stall(k: _Kernel, writes: dict, reads: dict, depths: dict):
    earliest = _read_bounds(k, writes, k.slots.size)
    earliest = np.maximum(earliest, _space_bounds(k.writes, k, reads, depths, k.slots.size))
    issue = _running_issue(k.slots, earliest)
    return [issue[pos] for pos in k.reads], [issue[pos] for pos in k.writes], issue


def _solve_flush(k: _Kernel, writes: dict, reads: dict, depths: dict):
    n = k.marks.size
    order = np.arange(n, dtype=np.int64)
    space = _space_bounds(k.port_writes, k, reads, depths, n)
    # write x leaves at E_x = max(issue_x + depth, E_x-1 + 1, space_x). Its anchor (the issue of
    # iteration x + depth) waits for E_x, but the issue part never binds there (the anchor issues
    # at least depth + x - y cycles after write y), so the anchor waits for the space part alone.
    backlog = order + np.maximum.accumulate(space - order)
    earliest = _read_bounds(k, writes, k.slots.size)
    earliest[k.anchors] = np.maximum(earliest[k.anchors], backlog)
    issue = _running_issue(k.slots, earliest)
    leave = order + np.maximum.accumulate(np.maximum(issue[k.marks] + k.depth, space) - order)
    return [issue[pos] for pos in k.reads], [leave[x] for x in k.port_writes], (issue, leave)


def solve(model: TimingModel, *, frames: int, style: str, depths: dict[str, int], inputs: dict[str, np.ndarray],
          depth_factor: float = 1.0, depth_add: int = 0, stall_causes: bool = True) -> Trace | None:
    """The model's times, or None when they do not settle within the work budget (a deadlock, or
    backpressure that needs the event engine). `depths` holds every stream's, external ones too."""
    kernels = prepare_once(model, frames, style, depth_factor, depth_add)
    solve_one = _solve_stall if style == "stall" else _solve_flush
    writes: dict[str, np.ndarray] = dict(inputs)
    reads: dict[str, np.ndarray] = {}
    writer = {s: i for i, k in enumerate(kernels) for s in k.outputs}
    reader = {s: i for i, k in enumerate(kernels) for s in k.inputs}
    order = _dataflow_order(kernels, writer)
    dirty = set(range(len(kernels)))
    budget = WORK_BUDGET * sum(k.slots.size for k in kernels)
    work, sweep, solved = 0, 0, {}
    while dirty:
        if work > budget:
            return None
        sweep += 1
        for i in (order if sweep % 2 else order[::-1]):
            if i not in dirty:
                continue
            dirty.discard(i)
            k = kernels[i]
            new_reads, new_writes, solved[i] = solve_one(k, writes, reads, depths)
            work += k.slots.size
            for stream, times in zip(k.inputs, new_reads):
                if not _same(reads.get(stream), times):
                    reads[stream] = times
                    if stream in writer and depths[stream] < times.size:    # can it ever be full?
                        dirty.add(writer[stream])
            for stream, times in zip(k.outputs, new_writes):
                if not _same(writes.get(stream), times):
                    writes[stream] = times
                    if stream in reader:
                        dirty.add(reader[stream])
    stalls = {k.name: _stall_causes(k, solved[i], writes, reads, depths, style) if stall_causes else {}
              for i, k in enumerate(kernels)}
    return Trace(writes, reads, [], True, stalls)


def _same(old, new) -> bool:
    return old is not None and np.array_equal(old, new)


def _dataflow_order(kernels: list[_Kernel], writer: dict) -> list[int]:
    """Producers before consumers (any order among the rest: the sweeps settle either way)."""
    order, placed = [], set()
    pending = list(range(len(kernels)))
    while pending:
        ready = [i for i in pending if all(writer.get(s) in placed or writer.get(s) in (None, i)
                                           for s in kernels[i].inputs)] or pending[:1]
        for i in ready:
            order.append(i)
            placed.add(i)
        pending = [i for i in pending if i not in placed]
    return order


# ---- stall causes: what the event engine records, from the settled times ------------------------

def _stall_causes(k: _Kernel, solved, writes: dict, reads: dict, depths: dict, style: str) -> dict:
    """Cycles each slot waited beyond its predecessor + its distance, charged as the event engine
    charges them: to the first FIFO (in port order: reads, then writes) whose constraint set the
    issue time, never for the very first slot."""
    issue = solved if style == "stall" else solved[0]
    slots = k.slots
    if slots.size == 0:
        return {}
    planned = np.empty_like(issue)
    planned[0] = slots[0]
    planned[1:] = issue[:-1] + np.diff(slots)
    cause = np.full(slots.size, -1, np.int64)
    causes: list[tuple[str, str]] = []

    def charge(positions, bound, at, state, stream):
        """Slots at `positions` whose bound `bound` set the time `at` and that have no cause yet."""
        hit = (bound == at[positions]) & (at[positions] > planned[positions]) & (cause[positions] < 0)
        cause[positions[hit]] = len(causes)
        causes.append((stream, state))

    # the engine raises the time constraint by constraint, reads first in port order, and keeps the
    # first that reached the final value; a flush anchor comes after the reads and can override them
    after_reads = planned.copy()
    for port, stream in enumerate(k.inputs):
        after_reads[k.reads[port]] = np.maximum(after_reads[k.reads[port]], writes[stream] + 1)
    reached = issue if style == "stall" else after_reads
    for port, stream in enumerate(k.inputs):
        charge(k.reads[port], writes[stream] + 1, reached, EMPTY, stream)
    if style == "stall":
        for port, stream in enumerate(k.outputs):
            r, d, pos = reads.get(stream), depths[stream], k.writes[port]
            if r is not None and d < pos.size:
                charge(pos[d:], r[:pos.size - d] + 1, issue, FULL, stream)
    else:
        _flush_anchor_causes(k, solved, reads, depths, planned, after_reads, cause, causes)
    waited = issue - planned
    waited[0] = 0                                  # the first slot is no stall (the engine's `started`)
    charged = cause >= 0
    per_cause = np.zeros(len(causes), np.int64)
    np.add.at(per_cause, cause[charged], waited[charged])
    totals: dict[tuple[str, str], int] = {}
    for key, cycles in zip(causes, per_cause.tolist()):
        if cycles:
            totals[key] = totals.get(key, 0) + cycles
    return totals


def _flush_anchor_causes(k, solved, reads, depths, planned, after_reads, cause, causes) -> None:
    """An anchor whose write left later than the reads allowed takes the write's own cause: the
    first output FIFO whose space set the exit, or none (the exit waited for the write before it,
    which the engine charges to nobody)."""
    issue, leave = solved
    n = k.marks.size
    if n == 0:
        return
    base = issue[k.marks] + k.depth
    base[1:] = np.maximum(base[1:], leave[:-1] + 1)
    exit_cause = np.full(n, -1, np.int64)
    for port, stream in enumerate(k.outputs):
        r, d, xs = reads.get(stream), depths[stream], k.port_writes[port]
        if r is None or d >= xs.size:
            continue
        x = xs[d:]
        hit = (r[:xs.size - d] + 1 == leave[x]) & (leave[x] > base[x]) & (exit_cause[x] < 0)
        exit_cause[x[hit]] = len(causes)
        causes.append((stream, FULL))
    late = leave > after_reads[k.anchors]          # the anchor raised the time past the reads
    positions = k.anchors[late]
    cause[positions] = exit_cause[late]            # -1 (no cause) overrides a read's cause, as in the engine
