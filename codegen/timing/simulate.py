"""Cycle-level model of the dataflow design: every kernel's pipelined loop, every FIFO bounded.

What is modelled (qgen's own templates; an edited template needs Vitis cosim):
- Each kernel is one flattened loop at II=1 (`Schedule`): iteration i issues one cycle after
  iteration i-1 unless it waits; its reads happen at issue, its writes `depth` cycles later.
- A read of token k waits until k was written (a FIFO has one cycle of latency); a write of token
  k waits until token k - depth was read (the FIFO is full until then). External AXI ports never
  wait (or, for FIFO sizing, the input arrives at a given rate).
- `style="stall"` (Vitis's default stall pipeline): the pipeline moves in lock step, so the write
  of iteration i happens in the same cycle as the issue of iteration i + depth; a read that waits
  holds every pending write back, and a write that waits holds every read.
- `style="flush"` (`#pragma HLS PIPELINE style=flp`, UG1399 "Flushing Pipelines"): iterations in
  flight leave the pipeline even when the next read waits; a write that waits still blocks the
  pipeline behind it (at most `depth` iterations in flight).
- Frames run back to back: a kernel starts frame f+1 when its loop has drained frame f.

The model is computed per token, not per cycle: issue times only change where an iteration reads
or writes, so a kernel advances by whole runs of iterations in one step. Kernels run as
coroutines that suspend on an empty or full FIFO and are resumed by the kernel at the other end;
when none can run before all are done the design deadlocks, and the waiting kernels say where.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import QgenError
from .schedule import TimingModel

STYLES = ("flush", "stall")
EMPTY, FULL = "empty", "full"
UNBOUNDED = 1 << 62
MAX_EVENTS = 200_000_000        # reads + writes over all frames: the model keeps every token's time


class _Fifo:
    __slots__ = ("name", "depth", "W", "R", "rw", "ww")

    def __init__(self, name: str, depth: int):
        self.name, self.depth = name, depth
        self.W: list[int] = []      # write cycle of every token so far
        self.R: list[int] = []      # read cycle of every token so far
        self.rw = None              # the reader, when it waits for a token
        self.ww = None              # the writer, when it waits for space

    def read_at(self, t: int, wake) -> None:
        """A token leaves at cycle t: a writer waiting for space may go on."""
        self.R.append(t)
        if self.ww is not None:
            wake(self.ww)
            self.ww = None

    def write_at(self, t: int, wake) -> None:
        """A token arrives at cycle t: a reader waiting for it may go on."""
        self.W.append(t)
        if self.rw is not None:
            wake(self.rw)
            self.rw = None


class _Proc:
    __slots__ = ("kernel", "gen", "block", "done")

    def __init__(self, kernel: str):
        self.kernel, self.gen, self.block, self.done = kernel, None, None, False


@dataclass
class SimResult:
    style: str
    frames: int
    deadlock: bool
    blocked: list[dict]
    interval_cycles: int | None
    fps: float | None
    frame_done: list[int]
    fifos: list[dict]
    kernels: list[dict]
    stalls: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)   # kernel -> (fifo, state) -> cycles

    def to_json(self) -> dict:
        return {"deadlock": self.deadlock, "blocked": self.blocked, "interval_cycles": self.interval_cycles,
                "fps": self.fps, "frames": self.frames, "fifos": self.fifos, "kernels": self.kernels}

    def peak(self, fifo: str) -> int:
        return next(f["peak"] for f in self.fifos if f["name"] == fifo)

    def stalled_on(self, kernel: str, fifo: str, state: str) -> int:
        return self.stalls.get(kernel, {}).get((fifo, state), 0)


def _groups(index_lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Union of several sorted index arrays, with a bitmask per index of the lists containing it."""
    if not index_lists:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    allidx = np.concatenate(index_lists)
    bits = np.concatenate([np.full(a.size, 1 << p, np.int64) for p, a in enumerate(index_lists)])
    uniq, inv = np.unique(allidx, return_inverse=True)
    mask = np.zeros(uniq.size, np.int64)
    np.bitwise_or.at(mask, inv, bits)
    return uniq, mask


def _ports(mask: int, fifos: list) -> tuple:
    return tuple(f for p, f in enumerate(fifos) if mask >> p & 1)


def simulate(model: TimingModel, *, frames: int = 2, style: str = "flush", depths: dict[str, int] | None = None,
             input_period: float | None = None, depth_factor: float = 1.0, depth_add: int = 0,
             progress: Callable[[float], None] | None = None) -> SimResult:
    """Run `frames` frames back to back. `depths` overrides declared FIFO depths (UNBOUNDED for none);
    `input_period` makes the AXI input deliver one word per that many cycles (FIFO sizing);
    `depth_factor`/`depth_add` deepen every pipeline (read-ahead margin)."""
    if style not in STYLES:
        raise QgenError(f"unknown pipeline style {style!r} (use {' or '.join(STYLES)})")
    if frames < 1:
        raise QgenError("frames must be at least 1")
    events = frames * sum(a.size for k in model.kernels for a in (*k.schedule.reads, *k.schedule.writes))
    if events > MAX_EVENTS:
        raise QgenError(f"{frames} frames of this design are {events:,} FIFO transfers; the model keeps at most "
                        f"{MAX_EVENTS:,} (use fewer frames)")
    declared = dict(model.depths)
    for name, d in (depths or {}).items():
        if name not in declared:
            raise QgenError(f"no FIFO named {name!r}; FIFOs: {', '.join(sorted(declared)[:8])}, ...")
        declared[name] = d
    fifos = {name: _Fifo(name, d) for name, d in declared.items()}
    for name in model.external:
        fifos[name] = _Fifo(name, UNBOUNDED)
    for k in model.kernels:                 # the external input: every word there from the start, or paced
        for s, idx in zip(k.inputs, k.schedule.reads):
            if s in model.external:
                n = idx.size * frames
                times = (np.floor(np.arange(n) * input_period) - 1).astype(np.int64) if input_period else \
                    np.full(n, -1, np.int64)
                fifos[s].W = times.tolist()
    out_fifo = next((fifos[s] for k in model.kernels for s in k.outputs if s in model.external), None)

    ready: list[_Proc] = []
    stalls: dict[str, dict] = {}
    procs: list[_Proc] = []

    def wake(p):
        ready.append(p)

    for k in model.kernels:
        sched = k.schedule
        depth = int(round(sched.depth * depth_factor)) + depth_add
        frame_len = sched.iterations + depth
        ins = [fifos[s] for s in k.inputs]
        outs = [fifos[s] for s in k.outputs]
        st = stalls.setdefault(k.name, {})
        if style == "stall":
            idx, mask = _groups(list(sched.reads) + [w + depth for w in sched.writes])
            n_in = len(ins)
            table = {m: (_ports(m, ins), _ports(m >> n_in, outs)) for m in set(mask.tolist())}
            slots = list(zip(idx.tolist(), [table[m] for m in mask.tolist()]))
            p = _Proc(k.name)
            p.gen = _stall(p, slots, frames, frame_len, st, wake)
            procs.append(p)
        else:
            widx, wmask = _groups(list(sched.writes))
            ridx, rmask = _groups(list(sched.reads))
            n_in = len(ins)
            # issue slots: reads (bits 0..n_in-1), write iterations (mark) and their exits + depth (anchor)
            idx, mask = _groups([ridx, widx, widx + depth])
            rbits = np.zeros(idx.size, np.int64)
            rbits[np.searchsorted(idx, ridx)] = rmask
            code = rbits | ((mask >> 1 & 1) << n_in) | ((mask >> 2 & 1) << (n_in + 1))
            table = {m: (_ports(m, ins), m >> n_in & 1, m >> (n_in + 1) & 1) for m in set(code.tolist())}
            slots = list(zip(idx.tolist(), [table[m] for m in code.tolist()]))
            wtable = {m: _ports(m, outs) for m in set(wmask.tolist())}
            wslots = [wtable[m] for m in wmask.tolist()]
            p = _Proc(k.name)
            p.gen = _flush(p, slots, wslots, frames, frame_len, depth, st, wake)
            procs.append(p)

    total = sum(i.size for k in model.kernels for i in k.schedule.writes) * frames or 1
    ready.extend(reversed(procs))
    steps = 0
    while ready:
        p = ready.pop()
        try:
            p.block = next(p.gen)
        except StopIteration:
            p.done, p.block = True, None
        steps += 1
        if progress is not None and steps % 2048 == 0:
            progress(sum(len(f.W) for f in fifos.values() if f.name not in model.external) / total)
    if progress is not None:
        progress(1.0)
    return _result(model, style, frames, procs, fifos, out_fifo, stalls)


def _stall(me, slots, frames, frame_len, st, wake):
    """A stall-style pipeline: one slot per cycle in lock step (reads of i with writes of i - depth)."""
    T, last, started = -1, -1, False
    for f in range(frames):
        base = f * frame_len
        for idx, (rports, wports) in slots:
            i = base + idx
            t0 = t = T + i - last
            why = None
            for q in rports:
                k = len(q.R)
                while k >= len(q.W):
                    q.rw = me
                    yield ((q, EMPTY),)
                w = q.W[k] + 1
                if w > t:
                    t, why = w, (q.name, EMPTY)
            for q in wports:
                j = len(q.W) - q.depth
                if j >= 0:
                    while j >= len(q.R):
                        q.ww = me
                        yield ((q, FULL),)
                    r = q.R[j] + 1
                    if r > t:
                        t, why = r, (q.name, FULL)
            if why is not None and started:
                st[why] = st.get(why, 0) + t - t0
            for q in rports:
                q.read_at(t, wake)
            for q in wports:
                q.write_at(t, wake)
            T, last, started = t, i, True


def _flush(me, slots, wslots, frames, frame_len, depth, st, wake):
    """A flushable pipeline: reads at issue; writes leave `depth` cycles later, in order, even while
    a later read waits; a write that waits holds the issue of iteration i + depth back."""
    Tw, E, whyE = [], [], []            # per write iteration: issue time, exit time, what delayed it
    n_w = len(wslots)
    total_w = n_w * frames
    x, w, e_last = 0, 0, -1 << 62       # next write iteration to leave, its index in wslots

    def drain():
        """Let every issued write leave that can; the FIFO it waits on, or None."""
        nonlocal x, w, e_last
        while x < len(Tw):
            wports = wslots[w]
            e = Tw[x] + depth
            if e <= e_last:
                e = e_last + 1
            why = None
            for q in wports:
                j = len(q.W) - q.depth
                if j >= 0:
                    if j >= len(q.R):
                        return q
                    r = q.R[j] + 1
                    if r > e:
                        e, why = r, (q.name, FULL)
            for q in wports:
                q.W.append(e)
                if q.rw is not None:
                    wake(q.rw)
                    q.rw = None
            E.append(e)
            whyE.append(why)
            e_last = e
            x += 1
            w = w + 1 if w + 1 < n_w else 0
        return None

    T, last, started = -1, -1, False
    anchors = 0
    for f in range(frames):
        base = f * frame_len
        for idx, (rports, mark, anchor) in slots:
            i = base + idx
            t0 = t = T + i - last
            why = None
            for q in rports:
                k = len(q.R)
                while k >= len(q.W):
                    held = drain()
                    if k < len(q.W):
                        break
                    q.rw = me
                    if held is not None:
                        held.ww = me
                        yield (q, EMPTY), (held, FULL)
                    else:
                        yield ((q, EMPTY),)
                w_ = q.W[k] + 1
                if w_ > t:
                    t, why = w_, (q.name, EMPTY)
            if anchor:              # iteration i - depth must have left the pipeline
                while anchors >= len(E):
                    held = drain()
                    if anchors < len(E):
                        break
                    held.ww = me
                    yield ((held, FULL),)
                e = E[anchors]
                if e > t:
                    t, why = e, whyE[anchors]
                anchors += 1
            if why is not None and started:
                st[why] = st.get(why, 0) + t - t0
            for q in rports:
                q.read_at(t, wake)
            if mark:
                Tw.append(t)
            T, last, started = t, i, True
    while x < total_w:
        held = drain()
        if held is None:
            break
        held.ww = me
        yield ((held, FULL),)


def _peak(f: _Fifo) -> int:
    if not f.W:
        return 0
    w = np.asarray(f.W, np.int64)
    r = np.asarray(f.R, np.int64)
    return int((np.arange(1, w.size + 1) - np.searchsorted(r, w, side="right")).max())


def _result(model, style, frames, procs, fifos, out_fifo, stalls) -> SimResult:
    done = all(p.done for p in procs)
    blocked, seen = [], set()
    for p in procs:
        for q, state in (p.block or ()) if not p.done else ():
            key = (p.kernel, q.name, state)
            if key not in seen:
                seen.add(key)
                blocked.append({"kernel": p.kernel, "fifo": q.name, "state": state})
    frame_done = []
    if out_fifo is not None:
        per_frame = next(i.size for k in model.kernels for s, i in zip(k.outputs, k.schedule.writes)
                         if s == out_fifo.name)
        frame_done = [out_fifo.W[(f + 1) * per_frame - 1] + 1 for f in range(frames)
                      if len(out_fifo.W) >= (f + 1) * per_frame]
    interval = None
    if done and len(frame_done) >= 2:
        interval = frame_done[-1] - frame_done[-2]
    elif done and frame_done:
        interval = frame_done[0]
    fps = 1e9 / (interval * model.clock_ns) if interval else None
    fifo_rows = [{"name": n, "depth": fifos[n].depth, "peak": _peak(fifos[n])} for n in model.depths]
    kernel_rows = [{"name": k.name, "busy_cycles": k.schedule.iterations * frames,
                    "stall_cycles": int(sum(stalls.get(k.name, {}).values()))} for k in model.kernels]
    return SimResult(style, frames, not done, blocked, interval, fps, frame_done, fifo_rows, kernel_rows, stalls)


def free_run(model: TimingModel, *, frames: int, style: str, input_period: float | None = None,
             depth_factor: float = 1.0, depth_add: int = 0) -> SimResult:
    """The same model with every FIFO unbounded, solved in closed form kernel after kernel.

    Without full FIFOs nothing flows backwards, so each kernel depends only on its producers, and
    its issue times follow T_j = max(T_j-1 + (i_j - i_j-1), ready_j), i.e. T = i + running maximum
    of (ready - i): a numpy cumulative maximum instead of a loop. Used to size the FIFOs (peaks)."""
    W: dict[str, np.ndarray] = {}
    R: dict[str, np.ndarray] = {}
    for k in model.kernels:
        for s, idx in zip(k.inputs, k.schedule.reads):
            if s in model.external:
                n = idx.size * frames
                W[s] = (np.floor(np.arange(n) * input_period) - 1).astype(np.int64) if input_period else \
                    np.full(n, -1, np.int64)
    pending = list(model.kernels)
    while pending:
        k = next((k for k in pending if all(s in W for s in k.inputs)), None)
        if k is None:
            raise QgenError("the dataflow graph has a cycle; the free-running model needs a feed-forward design")
        pending.remove(k)
        sched = k.schedule
        depth = int(round(sched.depth * depth_factor)) + depth_add
        frame_len = sched.iterations + depth
        offsets = np.arange(frames, dtype=np.int64)[:, None] * frame_len
        reads = [(r[None, :] + offsets).ravel() for r in sched.reads]
        writes = [(w[None, :] + offsets).ravel() for w in sched.writes]
        if style == "stall":
            exits = [w + depth for w in writes]
            slots = np.unique(np.concatenate(reads + exits))
        else:
            slots = np.unique(np.concatenate(reads + writes))
        ready = np.full(slots.size, np.iinfo(np.int64).min // 2, np.int64)
        pos = []
        for s, r in zip(k.inputs, reads):
            p = np.searchsorted(slots, r)
            np.maximum.at(ready, p, W[s][:r.size] + 1)
            pos.append(p)
        T = slots + np.maximum(np.maximum.accumulate(ready - slots), 0)
        for s, p in zip(k.inputs, pos):
            R[s] = T[p]
        for s, w in zip(k.outputs, writes):
            W[s] = T[np.searchsorted(slots, w + depth)] if style == "stall" else T[np.searchsorted(slots, w)] + depth
    fifo_rows = []
    for name in model.depths:
        f = _Fifo(name, UNBOUNDED)
        f.W, f.R = W[name].tolist(), R[name].tolist()
        fifo_rows.append({"name": name, "depth": UNBOUNDED, "peak": _peak(f)})
    out = next((s for k in model.kernels for s in k.outputs if s in model.external), None)
    frame_done = []
    if out is not None:
        per_frame = W[out].size // frames
        frame_done = [int(W[out][(f + 1) * per_frame - 1]) + 1 for f in range(frames)]
    interval = frame_done[-1] - frame_done[-2] if len(frame_done) >= 2 else (frame_done[0] if frame_done else None)
    fps = 1e9 / (interval * model.clock_ns) if interval else None
    return SimResult(style, frames, False, [], interval, fps, frame_done, fifo_rows, [], {})
