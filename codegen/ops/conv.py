"""Convolution (k x k, stride 1, zero 'same' padding) with an optional threshold activation.

Without thresholds the op outputs its accumulator plus an integer bias: the head's logits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..timing.schedule import raster

from ..ir.tensor import Tensor
from ..ir.types import MAX_ACC_BITS, IntType
from ..resources import formulas
from ..resources.formulas import Cost
from ..hls.cpp import c_array, code_type, mvau_layout, per_pe, pixel_type, store_type
from ..hls.dependence import REGISTERS, CarriedBuffer
from ..hls.folding import LayerFold

MEMORY = "memory"       # window modes of a conv kernel (Conv.window_mode); REGISTERS is shared
ROM_IMPL = {"logic": "lutram", "bram": "bram"}    # formulas.rom_impl -> BIND_STORAGE impl of a ROM
RAM_IMPL = {"lutram": "lutram", "bram": "bram"}   # formulas.ram_impl -> BIND_STORAGE impl of a RAM
from .activation import Thresholds
from .base import EPILOGUE, FANOUT, PROLOGUE, Op, register_op


def accumulator_bounds(weights: np.ndarray, in_min: np.ndarray, in_max: np.ndarray,
                       bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the extreme accumulator values over every input within its channel ranges.

    weights: [O, C, ...]; each product w*x is extreme at an end of x's range, so the sums of
    per-term minima/maxima are the exact worst case (reachable, since inputs are independent).
    """
    w = weights.reshape(weights.shape[0], weights.shape[1], -1).astype(np.int64)
    lo_x = in_min.astype(np.int64)[None, :, None]
    hi_x = in_max.astype(np.int64)[None, :, None]
    lo = np.minimum(w * lo_x, w * hi_x).sum(axis=(1, 2))
    hi = np.maximum(w * lo_x, w * hi_x).sum(axis=(1, 2))
    if bias is not None:
        lo, hi = lo + bias, hi + bias
    return lo, hi


def _tap_patterns(kernel: int, size: int) -> set[tuple[bool, ...]]:
    """The distinct masks of kernel taps inside the image along one axis ('same' zero padding)."""
    pad = kernel // 2
    return {tuple(0 <= i + k - pad < size for k in range(kernel)) for i in range(size)}


def position_iterations(produce: np.ndarray, folds: int, groups: int) -> np.ndarray:
    """Iterations of each raster position of conv.cpp.j2: NF * SF when it produces an output, else
    `groups` (C_IN / SIMD), the iterations that store its input pixel one channel group at a time."""
    return np.where(produce, folds, groups)


def window_distance(h: int, w: int, k: int, folds: int, groups: int) -> int:
    """The fewest iterations from the store of a word to its first load as a tap in conv.cpp.j2.

    Positions (r, c) of the (h + pad) x (w + pad) raster take `folds` iterations when they produce
    an output (r, c >= pad), else `groups`; channel group g of a pixel is stored in its position's
    iteration g, and fold sf of a producing position loads group g = sf % groups of tap (ky, kx) =
    divmod(sf // groups, k) of its window (the first neuron fold loads each tap soonest). Store and
    load of a group both lie g iterations after those of group 0, so group 0 gives the distance. The
    distances repeat from row k on, so rows 0..k+1 hold the minimum; numpy over those rows (a few
    hundred positions x k*k taps)."""
    pad = k // 2
    rows = min(h + pad, k + 2)
    r, c = raster(rows, w + pad)
    produce = (r >= pad) & (c >= pad)
    iterations = position_iterations(produce, folds, groups)
    first = np.cumsum(iterations) - iterations
    stored = np.full((rows, w), -1, np.int64)               # iteration storing pixel (row, col)
    inside = (r < h) & (c < w)
    stored[r[inside], c[inside]] = first[inside]
    ky, kx = np.divmod(np.arange(k * k), k)
    p = np.flatnonzero(produce)
    row = r[p, None] - (k - 1) + ky[None, :]
    col = c[p, None] - (k - 1) + kx[None, :]
    tap = (row >= 0) & (row < min(h, rows)) & (col >= 0) & (col < w)
    load = first[p, None] + (ky * k + kx)[None, :] * groups
    distance = load - stored[np.where(tap, row, 0), np.where(tap, col, 0)]
    return int(distance[tap].min())


def mvau_context(op, x: Tensor, y: Tensor, fold, out_ch: int, length: int) -> dict:
    """Template variables shared by the matrix-vector kernels (conv, conv_transpose, head)."""
    mult = op.mult_impl(x, fold)
    ctx = dict(
        name=op.name, C_IN=x.channels, C_OUT=out_ch, PE=fold.pe, SIMD=fold.simd,
        NF=out_ch // fold.pe, SF=length // fold.simd, header=f"{op.name}.h",
        in_pixel=pixel_type(x.name), out_pixel=pixel_type(y.name), in_t=code_type(x.name),
        out_t=code_type(y.name), acc_t=f"{op.name}_acc_t", weight_t=f"{op.name}_weight_t",
        weight_ctype=op.weight_type.ctype, acc_ctype=op.acc_type.ctype,
        weight_store_ctype=store_type(op.weight_type), acc_store_ctype=store_type(op.acc_type),
        prod_ctype=f"ap_int<{op.weight_type.bits + x.dtype.bits}>",   # |w * x| < 2^(W+A-1)
        MULT_IMPL={"lut": "fabric", "dsp": "dsp", "dsp2": "dsp"}[mult],
        PAIR=pair_context(op.weight_type.bits, x.dtype.bits) if mult == "dsp2" else None,
        # the ROMs where the cost model priced them (BIND_STORAGE): logic tables are distributed ROM
        WEIGHTS_IMPL=ROM_IMPL[formulas.rom_impl(fold.pe * fold.simd * op.weight_type.bits, op.weight_depth(fold))],
    )
    if op.thresholds is not None:
        t = op.thresholds
        nf = out_ch // fold.pe
        ctx.update(OUT_BITS=t.out_type.bits, thr_t=f"{op.name}_threshold_t", thr_ctype=t.dtype.ctype,
                   thr_store_ctype=store_type(t.dtype),
                   THR_IMPLS=[ROM_IMPL["bram" if formulas.threshold_level_in_bram(t.dtype.bits, formulas.pow2(nf * 2 ** s))
                                       else "logic"] for s in range(t.out_type.bits)])
    return ctx


def pair_context(w_bits: int, a_bits: int) -> dict:
    """kernels/mac_product.j2's packing of two PEs' products into one DSP (`mult: dsp2`)."""
    shift = formulas.pair_shift(w_bits, a_bits)
    packed = formulas.pair_operand_bits(w_bits, a_bits)
    return dict(SHIFT=shift, packed_ctype=f"ap_int<{packed}>", both_ctype=f"ap_int<{packed + a_bits + 1}>")


def mvau_data(op, fold, matrices: list[np.ndarray]) -> dict:
    """The constant arrays of a matrix-vector kernel, as C initializers (formatted only when rendering).

    `matrices`: the [O, L] weight matrices (one, or one per transposed-conv tap), laid out as
    [NF*SF][PE][SIMD] per matrix so that fold f reads one word of PE*SIMD weights.
    """
    layouts = [mvau_layout(m, fold.pe, fold.simd) for m in matrices]
    weights = layouts[0] if len(layouts) == 1 else np.stack(layouts)
    data = dict(weights_shape=list(weights.shape), weights_init=c_array(weights))
    if op.thresholds is not None:
        out_ch = matrices[0].shape[0]
        # level s: [NF][2^s][PE] so that each PE reads its own memory (partitioned on the PE dimension)
        data["threshold_levels"] = [dict(shape=[out_ch // fold.pe, 2 ** s, fold.pe],
                                         init=c_array(per_pe(level, fold.pe).transpose(0, 2, 1)))
                                    for s, level in enumerate(op.thresholds.tree_levels())]
    return data


def mvau_depth(fold, out_bits: int | None) -> int:
    """Estimated pipeline depth of a matrix-vector loop iteration: read and window update (2),
    multiply (1), adder tree over SIMD, accumulate (1), one stage per threshold level, write (1);
    a DSP-packed pair (mult dsp2) one more, to take the two products apart."""
    return 5 + max(fold.simd - 1, 0).bit_length() + (out_bits or 0) + (fold.mult == "dsp2")


class WeightedOp(Op):
    """Shared parts of ops with integer weights, an accumulator and optional thresholds."""
    weighted = True

    def mult_impl(self, x: Tensor, fold) -> str:
        return fold.mult_impl(self.weight_type.bits + x.dtype.bits)

    def weight_depth(self, fold) -> int:
        """Words of the weight ROM: one per fold (of every tap of a transposed conv)."""
        return self.folds(fold)

    def folds(self, fold) -> int:
        """NF * SF: loop iterations per output pixel."""
        out_ch, window = self.fold_dims()
        return (out_ch // fold.pe) * (window // fold.simd)

    def pipeline_depth(self, fold) -> int:
        return mvau_depth(fold, self.thresholds.out_type.bits if self.thresholds is not None else None)

    def _mvau_cost(self, graph, fold, weight_depth: int) -> formulas.Breakdown:
        """Multipliers, adder tree + accumulators, threshold search, weight ROM and control, as parts."""
        x = graph.tensors[self.inputs[0]]
        out_ch, window = self.fold_dims()
        nf = out_ch // fold.pe
        thr = None
        if self.thresholds is not None:
            thr = (self.thresholds.out_type.bits, self.thresholds.dtype.bits, nf)
        return formulas.mvau(fold.pe, fold.simd, self.weight_type.bits, x.dtype.bits, self.acc_type.bits,
                             weight_depth, thr, self.mult_impl(x, fold))

    def _acc_type(self, lo: np.ndarray, hi: np.ndarray, exp: int) -> IntType:
        acc = IntType.covering(min(int(lo.min()), -1), max(int(hi.max()), 0), exp, signed=True)
        if acc.bits > MAX_ACC_BITS:
            raise ValueError(f"layer {self.name}: accumulator needs {acc.bits} bits (limit {MAX_ACC_BITS})")
        return acc

    def _output(self, lo: np.ndarray, hi: np.ndarray, shape, in_exp: int) -> Tensor:
        self.acc_type = self._acc_type(lo, hi, in_exp + self.weight_type.exp)
        if self.thresholds is None:
            return Tensor(self.output, shape, self.acc_type, lo, hi)
        ch_min, ch_max = self.thresholds.code_range(lo, hi)
        return Tensor(self.output, shape, self.thresholds.out_type, ch_min, ch_max)

    def _activate(self, acc: np.ndarray) -> np.ndarray:
        return acc if self.thresholds is None else self.thresholds.apply(acc)

    def summary(self, inputs, output) -> dict:
        row = super().summary(inputs, output)
        row.update(weight_bits=self.weight_type.bits, acc_bits=self.acc_type.bits,
                   macs=self.macs(output), weight_bytes=-(-self.weights.size * self.weight_type.bits // 8))
        if self.thresholds is not None:
            row["threshold_bits"] = self.thresholds.dtype.bits
        return row


@register_op
@dataclass(eq=False)
class Conv(WeightedOp):
    op_type = "conv"

    weights: np.ndarray = None          # int64 [O, C, k, k]
    weight_type: IntType = None         # signed, narrow range; exp = log2(weight scale)
    bias: np.ndarray | None = None      # int64 [O], in accumulator units
    thresholds: Thresholds | None = None

    @property
    def kernel(self) -> int:
        return self.weights.shape[-1]

    def accumulator_bounds(self, x: Tensor):
        """Exact per-channel accumulator bounds over every window the kernel sees, borders included.

        Zero padding feeds 0 to the taps that fall outside the image, and 0 need not lie in an input
        channel's reachable range (a channel whose smallest code is 5 never sends 0 from inside the
        image). So every distinct border pattern (which rows and columns of taps are padding) is
        bounded on its own, with its padded taps fixed at 0, and the extremes are taken over them.
        """
        lo = hi = None
        for rows in _tap_patterns(self.kernel, x.shape[1]):
            for cols in _tap_patterns(self.kernel, x.shape[2]):
                inside = np.outer(rows, cols)[None, None]            # taps that read the image
                p_lo, p_hi = accumulator_bounds(self.weights * inside, x.ch_min, x.ch_max, self.bias)
                lo = p_lo if lo is None else np.minimum(lo, p_lo)
                hi = p_hi if hi is None else np.maximum(hi, p_hi)
        return lo, hi

    def infer(self, inputs: list[Tensor]) -> Tensor:
        (x,) = inputs
        if x.channels != self.weights.shape[1]:
            raise ValueError(f"layer {self.name}: expects {self.weights.shape[1]} input channels, got {x.channels}")
        lo, hi = self.accumulator_bounds(x)
        return self._output(lo, hi, (self.weights.shape[0], x.shape[1], x.shape[2]), x.dtype.exp)

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        pad = self.kernel // 2
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).astype(np.float64)
        windows = sliding_window_view(xp, (self.kernel, self.kernel), axis=(2, 3))  # [N, C, H, W, k, k]
        # float64 products and sums are exact: accumulators are < 2**52 (checked in infer)
        acc = np.tensordot(windows, self.weights.astype(np.float64), axes=([1, 4, 5], [1, 2, 3]))
        acc = acc.transpose(0, 3, 1, 2).astype(np.int64)
        return acc if self.bias is None else acc + self.bias[None, :, None, None]

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self._activate(self.accumulate(x))

    def macs(self, output: Tensor) -> int:
        return int(self.weights.size * output.shape[1] * output.shape[2])

    def fold_dims(self) -> tuple[int, int]:
        """(output channels, window length K*K*C_in): what PE and SIMD divide."""
        o, c, k, _ = self.weights.shape
        return o, k * k * c

    # ---- HLS kernels: conv.cpp.j2 (window read from memory), conv_registers.cpp.j2 (window in
    # registers), head.cpp.j2 (1x1, bias, logits) ---------------------------------------------------

    def window_mode(self, fold) -> str:
        """MEMORY: every iteration reads one tap's SIMD channels from the memory of the last K rows
        (conv.cpp.j2), which needs SIMD to divide C_in; REGISTERS: the window is a register array read
        through an SF:1 multiplexer (conv_registers.cpp.j2): 1x1 kernels, lanes spanning taps, the head."""
        c_in = self.weights.shape[1]
        if self.kernel > 1 and self.thresholds is not None and c_in % fold.simd == 0:
            return MEMORY
        return REGISTERS

    def hosts(self) -> frozenset:
        """Both conv templates read a skip connection's streams themselves, pool their output (or run
        the head on it) as they write it and write it to every reader (kernels/concat_read.j2,
        maxpool_step.j2, head_step.j2)."""
        return frozenset((PROLOGUE, EPILOGUE, FANOUT)) if self.thresholds is not None else frozenset()

    # ---- the head fused behind the conv that produces its input (hls/design.py EPILOGUE) ----------
    # The head (1x1, bias, no thresholds) can run inside the conv before it: each output code that
    # conv computes (lane pe of neuron fold nf, channel nf * PE + pe) is multiplied into the logits
    # at once (kernels/head_step.j2), so the head needs no kernel, window or FIFO of its own. Its
    # folding then follows the host's: PE = its outputs, SIMD = the host's PE, so that the host's
    # neuron fold nf reads the head's weight word nf ([NF_host][C_OUT][PE_host]).

    @property
    def fuses_as(self) -> str | None:
        return EPILOGUE if self.thresholds is None and self.kernel == 1 else None

    def fused_fold(self, host_fold, mult: str = "auto") -> LayerFold:
        """The head's folding when it runs inside a host folded as `host_fold`."""
        return LayerFold(self.weights.shape[0], host_fold.pe, mult)

    def fuses_with(self, host_fold, own_fold) -> bool:
        """Whether the head runs inside its host at these foldings (else it keeps its own kernel)."""
        return (own_fold.pe, own_fold.simd) == (self.weights.shape[0], host_fold.pe) and own_fold.mult != "dsp2"

    def epilogue_writes(self, graph, times: np.ndarray) -> np.ndarray:
        """The logits of a pixel are complete when the host writes that pixel."""
        return np.asarray(times)

    def epilogue_buffers(self, graph, times, depth) -> list[CarriedBuffer]:
        return []       # the running logits are registers

    def epilogue_context(self, graph, ports, times, depth, lanes: int, fold) -> dict:
        """kernels/head_step.j2's macro argument `head`: the head's own kernel variables at its fused
        folding `fold` (SIMD = the host's `lanes`), and the ports its logits go to."""
        own = self.kernel_context(graph, fold)
        return dict(macros="kernels/head_step.j2", ports=list(ports), PE=lanes, pixel=own["out_pixel"],
                    **{k: own[k] for k in ("name", "header", "C_IN", "C_OUT", "acc_t", "prod_ctype", "MULT_IMPL",
                                           "WEIGHTS_IMPL", "BIAS_IMPL")})

    def epilogue_estimate(self, graph, times, depth, lanes: int, fold) -> formulas.Breakdown:
        """The head's MAC at its fused folding `fold` (`lanes` products per output), its weight ROM (one
        word per neuron fold of the host) and bias: its own estimate without a kernel's control, window
        or output registers."""
        cost = self._mvau_cost(graph, fold, self.folds(fold)).add("weights", self._bias_rom(fold))
        return formulas.Breakdown(**{part: c for part, c in cost.parts.items() if part != "control"})

    def _bias_rom(self, fold) -> Cost:
        """The head's bias[NF][PE]."""
        out_ch = self.weights.shape[0]
        return formulas.rom(fold.pe * self.acc_type.bits, out_ch // fold.pe)

    def kernel_template(self, graph, fold) -> str:
        if self.thresholds is None:
            return "kernels/head.cpp.j2"
        return "kernels/conv.cpp.j2" if self.window_mode(fold) == MEMORY else "kernels/conv_registers.cpp.j2"

    def _padding(self) -> int:
        return self.kernel // 2 if self.thresholds is not None else 0

    def carried_buffers(self, graph, fold) -> list[CarriedBuffer]:
        """The line buffer: in conv.cpp.j2 a pixel stored at its position's first iteration and loaded
        as a tap of later windows (`window_distance`); in conv_registers.cpp.j2 column c of a row
        stored at position (r, c) and loaded at (r + 1, c), one row of positions later: W + PAD
        iterations at the soonest (from the first row, whose positions take one iteration)."""
        if self.kernel == 1 or self.thresholds is None:      # 1x1 kernels (and the head) buffer nothing
            return []
        _, h, w = graph.tensors[self.output].shape
        if self.window_mode(fold) == MEMORY:
            distance = window_distance(h, w, self.kernel, self.folds(fold), self._groups(fold))
        else:
            distance = w + self._padding()
        return [CarriedBuffer("line", distance, self.pipeline_depth(fold))]

    def kernel_context(self, graph, fold) -> dict:
        x, y = graph.tensors[self.inputs[0]], graph.tensors[self.output]
        out_ch, window = self.fold_dims()
        context = {**mvau_context(self, x, y, fold, out_ch, window), "K": self.kernel, "PAD": self._padding(),
                   "H": y.shape[1], "W": y.shape[2], "WINDOW": window, "G": self._groups(fold),
                   "ITERATIONS": self.cycles(graph, fold), **self.buffer_context(graph, fold)}
        if self.window_mode(fold) == MEMORY:
            context["LINE_IMPL"] = self._row_memory(x, y, fold)[1]
        elif self.kernel > 1:                   # a row of the register window's line buffer
            context["LINE_IMPL"] = RAM_IMPL.get(formulas.ram_impl(x.channels * x.dtype.bits, y.shape[2]), "lutram")
        if self.thresholds is None:             # the head's bias[NF][PE]
            context["BIAS_IMPL"] = ROM_IMPL[formulas.rom_impl(fold.pe * self.acc_type.bits, out_ch // fold.pe)]
        return context

    def kernel_data(self, graph, fold) -> dict:
        out_ch, window = self.fold_dims()
        # the kernel's window order is [ky][kx][c]: weights [O, C, ky, kx] -> [O, ky, kx, C]
        data = mvau_data(self, fold, [self.weights.transpose(0, 2, 3, 1).reshape(out_ch, window)])
        if self.thresholds is None:
            bias = self.bias if self.bias is not None else np.zeros(out_ch, np.int64)
            data.update(bias_shape=[out_ch // fold.pe, fold.pe], bias_init=c_array(per_pe(bias, fold.pe)))
        return data

    def estimate(self, graph, fold) -> formulas.Breakdown:
        """MVAU (weights, multipliers, adders, thresholds) + the window: read from the row memory
        (the held input pixel and its G:1 multiplexer into the memory's SIMD-wide words, and the
        address logic), or in registers (line buffer, window registers, SF:1 multiplexer,
        new-column select)."""
        x, y = graph.tensors[self.inputs[0]], graph.tensors[self.output]
        out_ch, window = self.fold_dims()
        nf, sf = out_ch // fold.pe, window // fold.simd
        a = x.dtype.bits
        _, h, w = y.shape
        cost = self._mvau_cost(graph, fold, nf * sf)
        if self.thresholds is None:
            cost = cost.add("weights", self._bias_rom(fold))
        results = Cost(ff=out_ch * y.dtype.bits)
        if self.window_mode(fold) == MEMORY:
            groups = self._groups(fold)
            # the input pixel is held while its G channel groups are stored, one per iteration,
            # through a G:1 multiplexer per lane bit (none, and no register, for one group)
            held = Cost(ff=x.channels * a if groups > 1 else 0)
            return (cost.add("line_buffer", self._row_memory(x, y, fold)[0])
                    .add("window", formulas.window_mux(fold.simd * a, groups) + held + results)
                    .add("address", formulas.window_address(h, w, self.kernel, groups)))
        for buffer in self.carried_buffers(graph, fold):   # K - 1 rows (partitioned dim 1)
            row = (formulas.register_buffer if buffer.storage == REGISTERS else formulas.ram)(x.channels * a, w)
            cost = cost.add("line_buffer", row * (self.kernel - 1))
        # the SIMD-lane multiplexer, the window and output pixel registers, and (heuristic) the
        # select of the window's new column between line buffer, input pixel and zero padding
        return cost.add("window", formulas.window_mux(fold.simd * a, sf) + results
                        + Cost(lut=self.kernel * x.channels * a if self.kernel > 1 else 0, ff=window * a))

    def _row_memory(self, x: Tensor, y: Tensor, fold) -> tuple[Cost, str]:
        """conv.cpp.j2's memory of the last K rows, one word of SIMD codes per channel group of a
        pixel: K * W * G words. Deep and narrow, so that a BRAM holds it where a word per pixel
        (C_IN codes wide, K * W deep) needed one BRAM per 36 bits of width."""
        return formulas.dual_port_ram(fold.simd * x.dtype.bits, self.kernel * y.shape[2] * self._groups(fold))

    def _groups(self, fold) -> int:
        """Channel groups of an input pixel, C_IN / SIMD: its words in the row memory (G; 1 where
        SIMD spans more than the channels, as the register window's may)."""
        return max(self.weights.shape[1] // fold.simd, 1)

    def _store_iterations(self, fold) -> int:
        """Iterations of a position without output: the memory window stores its pixel one channel
        group per iteration; the register window stores it whole, in one."""
        return self._groups(fold) if self.window_mode(fold) == MEMORY else 1

    def schedule(self, graph, fold):
        """The conv kernels' loop: raster position (r, c) of (H + PAD) x (W + PAD) reads input pixel
        (r, c) in its first iteration when inside the image; a position that produces output
        (r - PAD, c - PAD) takes NF * SF iterations and writes it in its last, the others (the first
        PAD rows and columns) take one, or G with the memory window (`_store_iterations`)."""
        from ..timing.schedule import Schedule, raster
        _, h, w = graph.tensors[self.output].shape
        pad = self._padding()
        folds = self.folds(fold)
        r, c = raster(h + pad, w + pad)
        produce = (r >= pad) & (c >= pad)
        iterations = position_iterations(produce, folds, self._store_iterations(fold))
        first = np.cumsum(iterations) - iterations
        return Schedule(int(iterations.sum()), self.pipeline_depth(fold), [first[(r < h) & (c < w)]],
                        [first[produce] + folds - 1])

    def cycles(self, graph, fold) -> int:
        """Iterations of the kernel's flattened loop: NF * SF per output pixel, one (G with the memory
        window) per position without output (the first PAD rows and columns of the raster)."""
        _, h, w = graph.tensors[self.output].shape
        pad = self._padding()
        return h * w * self.folds(fold) + ((h + pad) * (w + pad) - h * w) * self._store_iterations(fold)

