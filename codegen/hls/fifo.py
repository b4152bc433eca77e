"""FIFO depths of the dataflow design, and a pixel-level simulation that checks them.

A skip connection's FIFO must hold every encoder pixel the decoder has not consumed yet; too
shallow and the design deadlocks in hardware (FINN users report exactly this on U-Nets, finn#1094),
while C-simulation with unbounded hls::stream never shows it.

Depths come from each kernel's *schedule*, the order in which its loops read and write (the
templates' loop nests, registered below per template): for every output pixel, the index of the
last input pixel it reads before writing it. Composing these along the down-and-up path between a
split and its concatenation gives, for every up-path pixel p, the last encoder pixel that must
have passed the split before p can exist; the split has then pushed that many pixels into the skip
FIFO while the concatenation has taken only p of them. The maximum of the difference is the depth.
Because every kernel is a fixed sequence of reads and writes (no data-dependent control), one
complete execution within these depths implies every execution completes (a persistent,
Kahn-style network), whatever the relative speeds of the layers; PIPELINE_SLACK covers the
look-ahead of pipelined loops in real kernels.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Iterator

import numpy as np

DEFAULT_DEPTH = 2          # Vitis's default; enough for a stream whose consumer reads as it arrives
PIPELINE_SLACK = 32        # extra entries on skip FIFOs for kernels whose pipelines read ahead

_LAST_READ: dict[str, Callable] = {}
_ACTIONS: dict[str, Callable] = {}


def schedule(template: str):
    """Register a template's schedule: `last_read(ctx)` (per output pixel, the index of the last
    pixel read from each input before it is written; one array for every input) and `actions(ctx)`
    (the exact read/write sequence, for simulation)."""
    def wrap(cls):
        _LAST_READ[template] = cls.last_read
        _ACTIONS[template] = cls.actions
        return cls
    return wrap


@schedule("kernels/input.cpp.j2")
class _Input:
    @staticmethod
    def last_read(ctx):
        return np.arange(ctx["H"] * ctx["W"])

    @staticmethod
    def actions(ctx) -> Iterator[tuple[str, int]]:
        for _ in range(ctx["H"] * ctx["W"]):
            yield "w", 0


@schedule("kernels/conv.cpp.j2")
class _Conv:
    @staticmethod
    def last_read(ctx):
        h, w, pad = ctx["H"], ctx["W"], ctx["PAD"]
        i, j = np.divmod(np.arange(h * w), w)
        r, c = i + pad, j + pad                     # output (i, j) is written at raster step (r, c)
        return np.where(r < h, r * w + np.minimum(c, w - 1), h * w - 1)

    @staticmethod
    def actions(ctx):
        h, w, pad = ctx["H"], ctx["W"], ctx["PAD"]
        for r in range(h + pad):
            for c in range(w + pad):
                if r < h and c < w:
                    yield "r", 0
                if r >= pad and c >= pad:
                    yield "w", 0


@schedule("kernels/head.cpp.j2")
@schedule("kernels/output.cpp.j2")
@schedule("kernels/split.cpp.j2")
class _PixelWise:
    @staticmethod
    def last_read(ctx):
        return np.arange(ctx["H"] * ctx["W"])

    @staticmethod
    def actions(ctx):
        outputs = ctx.get("outputs", 1)
        for _ in range(ctx["H"] * ctx["W"]):
            yield "r", 0
            for k in range(outputs):
                yield "w", k


@schedule("kernels/conv_transpose.cpp.j2")
@schedule("kernels/upsample.cpp.j2")
class _Upscale:
    @staticmethod
    def last_read(ctx):
        h, w = ctx["H"], ctx["W"]                   # input size; output row 2i+1 follows all of input row i
        i, dy, j, _ = np.meshgrid(np.arange(h), np.arange(2), np.arange(w), np.arange(2), indexing="ij")
        return np.where(dy == 0, i * w + j, i * w + w - 1).ravel()

    @staticmethod
    def actions(ctx):
        for _ in range(ctx["H"]):
            for dy in range(2):
                for _ in range(ctx["W"]):
                    for dx in range(2):
                        if dy == 0 and dx == 0:
                            yield "r", 0
                        yield "w", 0


@schedule("kernels/maxpool.cpp.j2")
class _MaxPool:
    @staticmethod
    def last_read(ctx):
        w = ctx["W"]
        i, j = np.divmod(np.arange((ctx["H"] // 2) * (w // 2)), w // 2)
        return (2 * i + 1) * w + 2 * j + 1

    @staticmethod
    def actions(ctx):
        for r in range(ctx["H"]):
            for c in range(ctx["W"]):
                yield "r", 0
                if r % 2 and c % 2:
                    yield "w", 0


@schedule("kernels/concat.cpp.j2")
class _Concat:
    @staticmethod
    def last_read(ctx):                             # pixel p of every input, together
        return np.arange(ctx["H"] * ctx["W"])

    @staticmethod
    def actions(ctx):
        for _ in range(ctx["H"] * ctx["W"]):
            for k in range(len(ctx["inputs"])):
                yield "r", k
            yield "w", 0


def needed(design, reference: str) -> dict[str, np.ndarray]:
    """Per stream downstream of `reference`: for each pixel, the last reference pixel it depends on."""
    out = {reference: np.arange(len(_pixels(design, reference)))}
    for kernel in design.kernels:
        ins = [out[s] for s in kernel.inputs if s in out]
        if not ins:
            continue
        last = _LAST_READ[kernel.template](kernel.context)
        dep = np.maximum.reduce([a[last] for a in ins])
        for s in kernel.outputs:
            out[s] = dep
    return out


def _pixels(design, stream: str) -> np.ndarray:
    t = design.graph.tensors[design.streams[stream].tensor]
    return np.empty(t.shape[1] * t.shape[2])


def required_depths(design) -> dict[str, int]:
    """Backlog of every stream that must wait for a sibling: the skip inputs of concatenations."""
    need = {}
    for kernel in design.kernels:
        if len(kernel.inputs) < 2:
            continue
        for s in kernel.inputs:
            split = design.producer(s)
            if len(split.outputs) < 2:          # not a copy of a shared tensor: read as it arrives
                continue
            dep = needed(design, split.inputs[0])
            others = [dep[o] for o in kernel.inputs if o != s and o in dep]
            if others:
                must_have_passed = np.maximum.reduce(others) + 1    # encoder pixels through the split
                need[s] = int((must_have_passed - np.arange(len(must_have_passed))).max())
    return need


def assign_depths(design) -> dict[str, int]:
    """Set every stream's depth: the computed backlog plus slack where a stream must buffer."""
    need = required_depths(design)
    for name, stream in design.streams.items():
        backlog = need.get(name, 1)
        stream.depth = DEFAULT_DEPTH if backlog <= 1 else backlog + PIPELINE_SLACK
    return {name: s.depth for name, s in design.streams.items()}


def simulate(design, depths: dict[str, int]) -> tuple[bool, dict[str, int]]:
    """Run every kernel's exact read/write sequence with bounded FIFOs. Returns (completed, max occupancy).

    Kernels are stepped consumer-first; a kernel stops at a read of an empty FIFO or a write to a
    full one. No progress before all finish is a deadlock.
    """
    fill = {name: 0 for name in design.streams}
    peak = dict(fill)
    external = {s for s in design.streams if not design.streams[s].tensor}
    runs = []
    for kernel in design.kernels:
        it = _ACTIONS[kernel.template](kernel.context)
        runs.append([kernel, it, next(it, None)])
    active = deque(reversed(runs))
    while active:
        progressed = False
        for run in list(active):
            kernel, it, action = run
            while action is not None:
                kind, port = action
                stream = (kernel.inputs if kind == "r" else kernel.outputs)[port]
                if stream in external:
                    pass
                elif kind == "r":
                    if fill[stream] == 0:
                        break
                    fill[stream] -= 1
                else:
                    if fill[stream] >= depths[stream]:
                        break
                    fill[stream] += 1
                    peak[stream] = max(peak[stream], fill[stream])
                action = next(it, None)
                progressed = True
            run[2] = action
            if action is None:
                active.remove(run)
        if not progressed:
            return False, peak
    return True, peak
