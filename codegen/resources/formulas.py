"""Primitive cost formulas, after FINN's published analytical estimators.

Sources (see ../shared/reference/hls-facts.md, section 1.1): FINN
src/finn/custom_op/fpgadataflow/matrixvectoractivation.py and hls/matrixvectoractivation_hls.py
(MVAU: BRAM packing, LUT and DSP models, which cite FINN-R, Blott et al., ACM TRETS 2018) and
hls/convolutioninputgenerator_hls.py (sliding-window buffers). Adapted where our kernels differ:
our memories choose LUTRAM/BRAM by size as Vitis HLS does, and small FIFOs are shift registers.
All results are *estimates*; real numbers only come from a csynth.xml written by Vitis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

LAYER_BASE_LUT = 300         # FINN's per-layer constant (control, handshakes)
LUTRAM_MAX_DEPTH = 128       # FINN keeps memories of depth <= 128 in LUTRAM ("internal_embedded")
LUTRAM_MAX_BITS = 4096       # ... and Vitis maps small arrays to LUTRAM/registers regardless of depth
SRL_MAX_DEPTH = 32           # one SRLC32E per bit: FIFOs up to 32 deep live in LUTs (FINN's StreamingFIFO)


@dataclass
class Cost:
    lut: float = 0.0
    ff: float = 0.0
    dsp: float = 0.0
    bram_18k: float = 0.0
    uram: float = 0.0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def rounded(self) -> dict[str, int]:
        return {f.name: int(math.ceil(getattr(self, f.name))) for f in fields(self)}


def bram18_for(width: int, depth: int) -> int:
    """18 Kb BRAMs for a width x depth memory, by BRAM aspect ratio (FINN MVAU bram_estimation)."""
    if width <= 0 or depth <= 0:
        return 0
    if width == 1:
        return math.ceil(depth / 16384)
    if width == 2:
        return math.ceil(depth / 8192)
    if width <= 4:
        return math.ceil(depth / 4096) * math.ceil(width / 4)
    if width <= 9:
        return math.ceil(depth / 2048) * math.ceil(width / 9)
    if width <= 18 or depth > 512:
        return math.ceil(depth / 1024) * math.ceil(width / 18)
    return math.ceil(depth / 512) * math.ceil(width / 36)


def memory(width: int, depth: int) -> Cost:
    """A ROM/RAM of `depth` words of `width` bits: registers, LUTRAM or BRAM by size."""
    if width <= 0 or depth <= 0:
        return Cost()
    if depth <= 2:
        return Cost(ff=width * depth)
    if depth <= LUTRAM_MAX_DEPTH or width * depth <= LUTRAM_MAX_BITS:
        return Cost(lut=width * math.ceil(depth / 64))         # 64x1 LUTRAM per bit (FINN c2 term)
    return Cost(bram_18k=bram18_for(width, depth))


def fifo(width: int, depth: int) -> Cost:
    """A stream FIFO: registers when shallow, shift-register LUTs up to 32 deep, BRAM beyond."""
    if depth <= 2:
        return Cost(lut=width // 4, ff=width * depth)
    if depth <= SRL_MAX_DEPTH:
        return Cost(lut=width + 8, ff=width + 8)
    return Cost(lut=40, ff=width + 64, bram_18k=bram18_for(width, depth))


def lut_multiplier(w_bits: int, a_bits: int) -> int:
    """LUTs of one W x A multiplier in fabric (FINN MVAU lut_estimation, 'mult' term per SIMD lane)."""
    n = w_bits + a_bits
    return (2 * math.ceil(n / 6) - 1) * n


def dsp_multiplier(w_bits: int, a_bits: int) -> int:
    """DSP slices of one multiplier (FINN: ceil((W+A)/48) per lane)."""
    return math.ceil((w_bits + a_bits) / 48)


def mvau(pe: int, simd: int, w_bits: int, a_bits: int, acc_bits: int, weight_depth: int,
         thresholds: tuple[int, int, int] | None, mult: str) -> Cost:
    """Matrix-vector unit with PE x SIMD multipliers (FINN MVAU lut/dsp/bram estimation).

    thresholds: (output bits B, threshold bits, neuron folds NF) of the activation, or None. Our
    activation is a binary search (one comparator per output bit and tree level) instead of FINN's
    2^B - 1 parallel comparators; level s is one memory of NF * 2^s thresholds per PE.
    """
    n = w_bits + a_bits
    mult_luts = simd * lut_multiplier(w_bits, a_bits) if mult == "lut" else 0
    adder_tree = n * (2 * simd - 1)
    comparators = 0
    thr_mem = Cost()
    if thresholds is not None:
        out_bits, thr_bits, nf = thresholds
        comparators = out_bits * thr_bits
        for level in range(out_bits):
            level_mem = memory(thr_bits, nf * 2 ** level)
            thr_mem = thr_mem + Cost(**{k: pe * v for k, v in vars(level_mem).items()})
    lut = LAYER_BASE_LUT + 1.1 * pe * (mult_luts + adder_tree + acc_bits + comparators)
    dsp = pe * simd * dsp_multiplier(w_bits, a_bits) if mult == "dsp" else 0
    # FINN does not estimate FFs for the MVAU: count the accumulators, the multiplier pipeline
    # registers and the output code registers, which dominate in synthesis reports of such units
    ff = pe * (2 * acc_bits + simd * n) + 64
    weights = memory(pe * simd * w_bits, weight_depth)
    return Cost(lut=lut, ff=ff, dsp=dsp) + weights + thr_mem


def mux_luts(lanes_bits: int, inputs: int) -> int:
    """A LUT6 is a 4:1 multiplexer: selecting one of `inputs` words costs ~ (inputs - 1) / 3 LUTs per bit."""
    return lanes_bits * math.ceil(max(inputs - 1, 0) / 3)
