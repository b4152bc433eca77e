"""The event engine of the cycle-level model: kernels as coroutines, one step per token.

Exact for every design, including those that deadlock: each kernel issues its iterations in
order and suspends on an empty or full FIFO until the kernel at the other end resumes it; when
none can run before all are done, the design deadlocks and the waiting kernels say where.
`codegen.timing.solver` computes the same times much faster when the design does not deadlock;
`simulate` uses this engine when the solver gives up (see codegen/timing/simulate.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .schedule import TimingModel

EMPTY, FULL = "empty", "full"


@dataclass
class Trace:
    """What an engine computed: every FIFO's write and read cycles (possibly cut short by a
    deadlock), the waits of kernels that did not finish, and per kernel the stall cycles by cause."""
    writes: dict[str, np.ndarray]
    reads: dict[str, np.ndarray]
    blocked: list[dict]
    done: bool
    stalls: dict[str, dict[tuple[str, str], int]]


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


def port_groups(index_lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
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


def run(model: TimingModel, *, frames: int, style: str, depths: dict[str, int], inputs: dict[str, np.ndarray],
        depth_factor: float = 1.0, depth_add: int = 0, progress: Callable[[float], None] | None = None) -> Trace:
    """Run the coroutines until all are done or none can go on. `depths` holds every stream's depth
    (external ones unbounded), `inputs` the write cycles of the external input words."""
    fifos = {name: _Fifo(name, d) for name, d in depths.items()}
    for name, times in inputs.items():
        fifos[name].W = times.tolist()

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
            idx, mask = port_groups(list(sched.reads) + [w + depth for w in sched.writes])
            n_in = len(ins)
            table = {m: (_ports(m, ins), _ports(m >> n_in, outs)) for m in set(mask.tolist())}
            slots = list(zip(idx.tolist(), [table[m] for m in mask.tolist()]))
            p = _Proc(k.name)
            p.gen = _stall(p, slots, frames, frame_len, st, wake)
            procs.append(p)
        else:
            widx, wmask = port_groups(list(sched.writes))
            ridx, rmask = port_groups(list(sched.reads))
            n_in = len(ins)
            # issue slots: reads (bits 0..n_in-1), write iterations (mark) and their exits + depth (anchor)
            idx, mask = port_groups([ridx, widx, widx + depth])
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
    blocked, seen = [], set()
    for p in procs:
        for q, state in (p.block or ()) if not p.done else ():
            key = (p.kernel, q.name, state)
            if key not in seen:
                seen.add(key)
                blocked.append({"kernel": p.kernel, "fifo": q.name, "state": state})
    return Trace({n: np.asarray(f.W, np.int64) for n, f in fifos.items()},
                 {n: np.asarray(f.R, np.int64) for n, f in fifos.items()},
                 blocked, all(p.done for p in procs), stalls)


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
