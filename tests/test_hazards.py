"""The static hazard check (codegen/hls/hazards.py) and the distances it checks pragmas against
(codegen/hls/dependence.py, each op's carried_buffers)."""
from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from codegen.hls.dependence import INDEPENDENT, REGISTERS, TRUE_DISTANCE, CarriedBuffer, safe_distance
from codegen.hls.hazards import check_units, parse_pragmas
from codegen.hls.lint import parse_kernels
from codegen.hls.render import TEMPLATES_DIR


def _common_header(root: Path) -> None:
    (root / "firmware").mkdir(parents=True)
    (root / "firmware" / "qgen_common.h").write_text(
        "#ifndef QGEN_COMMON_H\n#define QGEN_COMMON_H\n#include <ap_int.h>\n#include <hls_stream.h>\n#endif\n")


def hazards_of(tmp_path: Path, kernels: dict[str, str], buffers=None) -> list[str]:
    """Hazards of hand-written kernels (name -> body of `void name(in, out)`), one parse for all."""
    root = tmp_path / "prj"
    _common_header(root)
    layers = root / "firmware" / "layers"
    layers.mkdir()
    for name, body in kernels.items():
        (layers / f"{name}.cpp").write_text(
            '#include "../qgen_common.h"\n'
            f"void {name}(hls::stream<ap_uint<8> >& in, hls::stream<ap_uint<8> >& out) {{\n{body}\n}}\n")
    buffers = {f"firmware/layers/{k}.cpp": {b.array: b for b in v} for k, v in (buffers or {}).items()}
    return check_units(root, parse_kernels(root), buffers)


SHIFT = """
    static ap_uint<8> line[2][16][4];
#pragma HLS ARRAY_PARTITION variable=line complete dim=1
#pragma HLS ARRAY_RESHAPE variable=line complete dim=3
    ap_uint<8> column[3][4];
#pragma HLS ARRAY_PARTITION variable=column complete dim=0
    int c = 0;
    for (int it = 0; it < 64; it++) {
#pragma HLS PIPELINE II=1 style=flp
%s
        const ap_uint<8> px = in.read();
        for (int ch = 0; ch < 4; ch++) { column[2][ch] = px; }
        for (int ky = 0; ky < 2; ky++) {
            for (int ch = 0; ch < 4; ch++) {
%s
            }
        }
        for (int ky = 0; ky < 2; ky++) {
            for (int ch = 0; ch < 4; ch++) { line[ky][c][ch] = column[ky + 1][ch]; }
        }
        out.write(column[0][0]);
        c = (c == 15) ? 0 : c + 1;
    }
"""


def test_memory_ports_one_load_and_one_store_per_bank_pass(tmp_path):
    ok = SHIFT % ("", "column[ky][ch] = line[ky][c][ch];")
    assert hazards_of(tmp_path, {"k": ok}) == []


def test_memory_ports_a_second_load_is_a_third_access(tmp_path):
    # the pre-fix conv: the window column and the row shift load line[1][c] separately
    twice = SHIFT % ("", "column[ky][ch] = line[ky][c][ch];\n"
                         "                if (ky == 0) { column[0][ch] = column[0][ch] + line[ky + 1][c][ch]; }")
    (hazard,) = hazards_of(tmp_path, {"k": twice})
    assert "memory 'line' (bank 1) is accessed 3 times per iteration (2 reads, 1 write) but has 2 ports" in hazard
    assert hazard.startswith("firmware/layers/k.cpp:")


def test_memory_ports_branches_that_exclude_each_other_share_a_port(tmp_path):
    either = SHIFT % ("", "if (c > 3) { column[ky][ch] = line[ky][c][ch]; } else { column[ky][ch] = line[ky][0][ch]; }")
    assert hazards_of(tmp_path, {"k": either}) == []


def test_memory_ports_a_decided_condition_drops_the_copy(tmp_path):
    # ky == 1 only in one unrolled copy: bank 0 is read once, bank 1 twice (the extra read) + a store
    decided = SHIFT % ("", "column[ky][ch] = line[ky][c][ch];\n"
                           "                if (ky == 1) { column[1][ch] = column[1][ch] ^ line[ky][0][ch]; }")
    (hazard,) = hazards_of(tmp_path, {"k": decided})
    assert "(bank 1)" in hazard


def test_streams_and_one_trip_loops(tmp_path):
    kernels = {
        "twice": """
    for (int i = 0; i < 8; i++) {
#pragma HLS PIPELINE II=1
        ap_uint<8> a = in.read();
        ap_uint<8> b = in.read();
        out.write(a + b);
    }""",
        "unrolled": """
    for (int i = 0; i < 8; i++) {
#pragma HLS PIPELINE II=1
        for (int k = 0; k < 2; k++) { out.write(i); }
        in.read();
    }""",
        "exclusive": """
    for (int i = 0; i < 8; i++) {
#pragma HLS PIPELINE II=1
        if (i % 2) { out.write(in.read()); } else { out.write(0); }
    }""",
        "once": """
    for (int f = 0; f < 1; f++) {
#pragma HLS PIPELINE II=1 style=flp
        out.write(in.read());
    }""",
    }
    hazards = hazards_of(tmp_path, kernels)
    assert any("twice.cpp" in h and "stream 'in' is read 2 times per iteration" in h for h in hazards)
    assert any("unrolled.cpp" in h and "stream 'out' is written 2 times" in h for h in hazards)
    assert any("once.cpp" in h and "pipelined loop runs 1 time(s)" in h for h in hazards)
    assert not any("exclusive.cpp" in h for h in hazards)


DEPENDENT = """
    static ap_uint<8> row[16];
    for (int i = 0; i < 64; i++) {
#pragma HLS PIPELINE II=1
%s
        const int j = i %% 16;
        ap_uint<8> v = row[j];
        row[j] = in.read();
        out.write(v);
    }
"""


@pytest.mark.parametrize("pragma, distance, expected", [
    ("#pragma HLS DEPENDENCE variable=row inter false", 100, None),
    ("#pragma HLS DEPENDENCE variable=row inter false", 2, "inter false is unsafe"),         # the case
    ("#pragma HLS DEPENDENCE variable=row type=inter dependent=false", 2, "inter false is unsafe"),
    ("#pragma HLS DEPENDENCE variable=row inter", 2, "inter false is unsafe"),               # unsaid: false
    ("#pragma HLS DEPENDENCE variable=row inter true distance=16", 16, None),
    ("#pragma HLS DEPENDENCE variable=row inter true distance=17", 16, "claims distance 17"),
    ("#pragma HLS DEPENDENCE variable=other inter false", 100, "computed no distance for 'other'"),
    ("#pragma HLS DEPENDENCE variable=row intra false", 100, "intra false: qgen cannot check it"),
    ("#pragma HLS DEPENDENCE class=array inter false", 100, "without variable="),
])
def test_dependence_pragmas_are_checked_against_the_computed_distance(tmp_path, pragma, distance, expected):
    hazards = hazards_of(tmp_path, {"k": DEPENDENT % pragma}, {"k": [CarriedBuffer("row", distance, 3)]})
    if expected is None:
        assert hazards == []
    else:
        (hazard,) = hazards
        assert expected in hazard and hazard.startswith("firmware/layers/k.cpp:7:"), hazard


def test_parse_pragmas_reads_continuations_and_options():
    pragmas = parse_pragmas("#pragma HLS array_partition variable=x \\\n  type=cyclic factor=2 dim=2\n"
                            "  #pragma hls PIPELINE II=1 // comment\nint x;\n")
    assert [(p.line, p.directive) for p in pragmas] == [(1, "ARRAY_PARTITION"), (3, "PIPELINE")]
    assert pragmas[0].options == {"variable": "x", "type": "cyclic", "factor": "2", "dim": "2"}
    assert pragmas[1].options == {"ii": "1"}


# ---- the distances the ops compute, against the loops their templates run ------------------------

def min_raw_distance(events) -> int | None:
    """events: (iteration, 'store'|'load', address) in program order; the fewest iterations from a
    store of an address to a later iteration's load of it (loads in the store's own iteration read
    the value before it, as in the templates)."""
    last_store, best = {}, None
    for it, kind, address in events:
        if kind == "load" and address in last_store and last_store[address] < it:
            d = it - last_store[address]
            best = d if best is None else min(best, d)
        elif kind == "store":
            last_store[address] = it
    return best


def conv_positions(h, w, folds, pad=1, idle=1):
    """The conv kernels' positions (r, c), their first iteration and whether they produce an output:
    producing positions take `folds` iterations, the first PAD rows and columns `idle`."""
    it = 0
    for r, c in itertools.product(range(h + pad), range(w + pad)):
        produce = r >= pad and c >= pad
        yield r, c, it, produce
        it += folds if produce else idle


def conv_registers_line_events(h, w, folds):
    """conv_registers.cpp.j2: at a position's first iteration, column c < w of every line-buffer row
    is loaded, then stored."""
    for r, c, it, _ in conv_positions(h, w, folds):
        if c < w:
            yield it, "load", c
            yield it, "store", c


def conv_memory_line_events(h, w, folds, groups, k=3):
    """conv.cpp.j2: channel group g of pixel (r, c) stored at its position's iteration g (positions
    without output take `groups` iterations); iteration f of a producing position loads group
    f % groups of tap divmod((f % (k*k*groups)) // groups, k) of its window (addresses: words)."""
    for r, c, it, produce in conv_positions(h, w, folds, idle=groups):
        if r < h and c < w:
            for g in range(groups):
                yield it + g, "store", (r, c, g)
        if produce:
            for f in range(folds):
                ky, kx = divmod((f % (k * k * groups)) // groups, k)
                row, col = r - (k - 1) + ky, c - (k - 1) + kx
                if 0 <= row < h and 0 <= col < w:
                    yield it + f, "load", (row, col, f % groups)


def conv_transpose_row_events(h, w, folds):
    """conv_transpose.cpp.j2: output (2i + dy, 2j + dx), folds iterations each; row[j] is stored at
    dy = 0 and loaded at dy = 1, both at dx = 0."""
    it = 0
    for i, dy, j, dx in itertools.product(range(h), range(2), range(w), range(2)):
        if dx == 0:
            yield it, "store" if dy == 0 else "load", j
        it += folds


def maxpool_partial_events(h, w):
    it = 0
    for r, c in itertools.product(range(h), range(w)):
        if c % 2:
            yield it, "store" if r % 2 == 0 else "load", c // 2
        it += 1


def maxpool_left_events(h, w):
    """maxpool_step.j2, all channels in one fold: left stored at an even column, loaded at the next."""
    it = 0
    for r, c in itertools.product(range(h), range(w)):
        yield it, "load" if c % 2 else "store", 0
        it += 1


def upsample_row_events(h, w):
    it = 0
    for i, dy, j, dx in itertools.product(range(h), range(2), range(w), range(2)):
        if dx == 0:
            yield it, "store" if dy == 0 else "load", j
        it += 1


@pytest.mark.parametrize("h, w", [(1, 1), (2, 2), (4, 3), (8, 8), (16, 4), (3, 16)])
def test_op_distances_equal_the_templates_loops(h, w):
    from codegen.hls.folding import LayerFold
    from codegen.ir.graph import Graph, InputQuant
    from codegen.ir.tensor import Tensor
    from codegen.ir.types import IntType
    from codegen.ops import ConvTranspose2x2, MaxPool2x2, Upsample2x
    from codegen.ops.activation import Thresholds
    from codegen.ops.conv import Conv

    t = IntType(4, False, -4)

    def buffer(op, fold=None, array=None):
        g = Graph("g", InputQuant(t), Tensor.full_range("x", (2, h, w), t))
        g.add(op)
        buffers = {b.array: b for b in op.carried_buffers(g, fold)}
        return (buffers[array] if array else next(iter(buffers.values()))).distance

    weight_t = IntType(2, True, 0)
    for pe, simd in itertools.product((1, 2), (1, 2, 3, 18)):
        conv = Conv("c", ["x"], weights=np.ones((2, 2, 3, 3), np.int64), weight_type=weight_t,
                    thresholds=Thresholds(np.zeros((2, 1), np.int64), IntType(1, False, 0)))
        folds = (2 // pe) * (18 // simd)
        if conv.window_mode(LayerFold(pe, simd)) == "memory":       # SIMD divides the 2 input channels
            events = conv_memory_line_events(h, w, folds, 2 // simd)
        else:
            events = conv_registers_line_events(h, w, folds)
        assert buffer(conv, LayerFold(pe, simd)) == min_raw_distance(events), (pe, simd)
    for pe, simd in itertools.product((1, 5), (1, 2)):
        convt = ConvTranspose2x2("t", ["x"], weights=np.ones((5, 2, 2, 2), np.int64), weight_type=weight_t,
                                 thresholds=Thresholds(np.zeros((5, 1), np.int64), IntType(1, False, 0)))
        folds = (5 // pe) * (2 // simd)
        assert buffer(convt, LayerFold(pe, simd)) == min_raw_distance(conv_transpose_row_events(h, w, folds))
    if h % 2 == 0 and w % 2 == 0:
        assert buffer(MaxPool2x2("p", ["x"]), array="partial") == min_raw_distance(maxpool_partial_events(h, w))
        assert buffer(MaxPool2x2("p", ["x"]), array="left") == min_raw_distance(maxpool_left_events(h, w))
    assert buffer(Upsample2x("u", ["x"])) == min_raw_distance(upsample_row_events(h, w))


def test_storage_follows_the_distance():
    depth = 10
    bound = safe_distance(depth)
    assert CarriedBuffer("a", bound + 1, depth).storage == INDEPENDENT
    assert CarriedBuffer("a", bound, depth).storage == TRUE_DISTANCE
    assert CarriedBuffer("a", 5, depth).storage == TRUE_DISTANCE
    assert CarriedBuffer("a", 4, depth).storage == REGISTERS
    assert CarriedBuffer("a", 2, depth).storage == REGISTERS


# ---- through qgen hls -----------------------------------------------------------------------------

def test_hls_refuses_planted_hazards_and_allows_them_on_request(cli, tiny_checkpoint, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(TEMPLATES_DIR, folder)
    conv = folder / "kernels" / "conv.cpp.j2"
    # an unconditional `inter false`: a conv reading one channel group per tap loads a stored pixel
    # again (as the last tap of its own window) 8 iterations later
    conv.write_text(conv.read_text().replace("{%- if LINE_STORAGE == \"independent\" %}",
                                             "#pragma HLS DEPENDENCE variable=line inter false\n"
                                             "{%- if LINE_STORAGE == \"independent\" %}", 1))
    result = cli("hls", "--model", tiny_checkpoint, "--templates", folder, "--out", tmp_path / "bad")
    assert result.exit_code == 2 and not (tmp_path / "bad").exists()
    # named at the edited template's line, and the generated kernel's
    assert re.search(r"hazard in the generated code: \S*kernels/conv\.cpp\.j2:\d+ \(in firmware/layers/\w+\.cpp:\d+\)",
                     result.output), result.output
    assert "inter false is unsafe" in result.output
    result = cli("hls", "--model", tiny_checkpoint, "--templates", folder, "--out", tmp_path / "allowed",
                 "--allow-hazards")
    assert result.exit_code == 0 and "Warning: hazard allowed by --allow-hazards" in result.output


@pytest.mark.parametrize("h, w", [(1, 1), (1, 5), (5, 1), (2, 3), (3, 2), (6, 7)])
def test_window_distance_equals_the_loop_on_every_folding(h, w):
    """conv.cpp.j2's row memory: window_distance (rows 0..k+1 only) against every iteration."""
    from codegen.ops.conv import window_distance

    for groups, nf in itertools.product((1, 2, 3), (1, 2)):
        folds = nf * 9 * groups
        assert window_distance(h, w, 3, folds, groups) == \
            min_raw_distance(conv_memory_line_events(h, w, folds, groups)), (groups, nf)
