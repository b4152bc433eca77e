"""The integer IR: hand-checked ops, exact BatchNorm folding, agreement with Brevitas, QONNX cross-check."""
import json

import numpy as np
import pytest
import torch
from brevitas.nn import QuantReLU
from brevitas.quant import Uint8ActPerTensorFixedPoint, Uint8ActPerTensorFloat
from torch import nn

from codegen.errors import QgenError
from codegen.goldens import read_tensor, write_goldens
from codegen.ir.agreement import compare
from codegen.ir.fold import fold_thresholds
from codegen.ir.frontend import _bits, lower_model, pot_exponent
from codegen.ir.graph import Graph, InputQuant
from codegen.ir.tensor import Tensor
from codegen.ir.types import IntType
from codegen.ops import Concat, Conv, ConvTranspose2x2, MaxPool2x2, Thresholds, Upsample2x
from quantunet.checkpoint import load_checkpoint
from quantunet.config import get_preset
from quantunet.data import load_split
from quantunet.model import build_model

from .randomized import draw_variant, random_model, randomised_tiny


def _graph(codes_type=IntType(4, False, 0), shape=(1, 4, 4)):
    return Graph("t", InputQuant(codes_type), Tensor.full_range("input", shape, codes_type))


def test_hand_checked_conv3x3_with_thresholds():
    # 1-channel input, zero padding, Laplacian kernel; 2-bit output with thresholds 0, 3, 6
    x = np.array([[1, 2, 3, 0], [4, 5, 6, 1], [7, 8, 9, 2], [0, 1, 2, 3]])[None, None]
    w = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])[None, None]
    g = _graph()
    g.add(Conv("c", ["input"], weights=w, weight_type=IntType(4, True, -3),
               thresholds=Thresholds(np.array([[0, 3, 6]]), IntType(2, False, -1))))
    op = g.op("c")
    assert op.accumulate(x)[0, 0].tolist() == [[2, 1, -4, 4], [-3, 0, -6, 4], [-16, -10, -18, 5], [8, 6, 5, -8]]
    assert g.run(x)["c"][0, 0].tolist() == [[1, 1, 0, 2], [0, 1, 0, 2], [0, 0, 0, 2], [3, 3, 2, 0]]
    # worst case over 4-bit inputs: 4 neighbours * 15 = 60 and -4 * 15 = -60: 7 signed bits
    assert op.acc_type == IntType(7, True, -3)
    assert g.tensors["c"].dtype == IntType(2, False, -1)


def test_accumulator_width_is_the_reachable_worst_case():
    w = np.array([[[[3, -2, 1], [0, 7, -7], [1, 1, 1]]]])
    g = _graph(IntType(8, False, 0), (1, 3, 3))
    g.add(Conv("c", ["input"], weights=w, weight_type=IntType(4, True, 0)))
    lo, hi = -9 * 255, 14 * 255          # sums of negative / positive weights times the max code
    assert g.tensors["c"].dtype == IntType.covering(lo, hi, 0, signed=True)
    x = np.full((1, 1, 3, 3), 255)
    x_hi = np.where(w > 0, 255, 0).reshape(1, 1, 3, 3)
    assert g.run(x_hi)["c"][0, 0, 1, 1] == hi     # the bound is reached at the centre pixel
    assert g.run(np.where(w < 0, 255, 0).reshape(1, 1, 3, 3))["c"][0, 0, 1, 1] == lo
    assert g.run(x)["c"].max() <= hi


def test_padding_zeros_count_when_an_input_channel_never_reaches_zero():
    """A constant input channel (codes always 5) still meets zero padding at the borders: the
    accumulator bounds must cover those windows too (the bug behind random seed 1022)."""
    x_type = IntType(4, False, 0)
    g = Graph("t", InputQuant(x_type), Tensor("input", (1, 4, 4), x_type, np.array([5]), np.array([5])))
    w = np.array([[[[1, 1, 1], [1, -9, 1], [1, 1, 1]]]])
    g.add(Conv("c", ["input"], weights=w, weight_type=IntType(5, True, 0)))
    lo, hi = g.op("c").accumulator_bounds(g.tensors["input"])
    reached = g.op("c").accumulate(np.full((1, 1, 4, 4), 5))[0, 0]
    assert reached.min() == -30 and reached.max() == -5          # corner: 3 * 5 - 45; inside: 8 * 5 - 45
    assert (lo[0], hi[0]) == (-30, -5)                            # exact: all border patterns, no more
    assert g.op("c").acc_type.min_code <= -30


def test_random_seed_1022_agrees_with_brevitas():
    """Regression: constant channels after a saturated layer made enc2_conv1's bounds [163, 163]."""
    model, _ = randomised_tiny(1022)
    result = compare(lower_model(model, "r1022"), model, _phantom(4))
    assert result["mismatches"] == 0 and result["mask_identical"]


@pytest.mark.parametrize("seed", [2001, 2002, 2003, 2004])
def test_reference_equals_brevitas_on_random_variants(seed):
    """Other widths, depths, sizes, up-sampling modes, bit patterns and constant/dead channels."""
    variant = draw_variant(seed)
    model, _ = random_model(variant)
    images = load_split("phantom", "val", size=variant.input_size, channels=variant.in_channels, n_val=2).images
    result = compare(lower_model(model, "v"), model, images)
    assert result["mismatches"] == 0, (variant.describe(), [r for r in result["layers"] if r["mismatches"]])


def test_threshold_activation_saturates_at_the_max_code():
    t = Thresholds(np.array([[2, 3, 6]]), IntType(2, False, 0))
    acc = np.array([-100, 1, 2, 3, 5, 6, 7, 10 ** 6]).reshape(1, 1, 1, 8)
    assert t.apply(acc).ravel().tolist() == [0, 0, 1, 2, 2, 3, 3, 3]


def test_binary_search_tree_equals_threshold_counting():
    rng = np.random.default_rng(0)
    for bits in range(1, 9):
        values = np.sort(rng.integers(-300, 300, (5, 2 ** bits - 1)), axis=1)
        t = Thresholds(values, IntType(bits, False, 0))
        acc = rng.integers(-400, 400, (2, 5, 3, 7))
        acc[0, :, 0, :3] = values[:, :3]            # exactly on thresholds
        assert np.array_equal(t.search(acc), t.apply(acc))
        assert [level.shape[1] for level in t.tree_levels()] == [2 ** s for s in range(bits)]


def _bn(gamma, beta):
    bn = nn.BatchNorm2d(len(gamma), eps=0.0)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    return bn.eval()


def _relu_2bit():
    # eval scale before statistics: 2**ceil(log2(1.0)) / 2**2 = 0.25, codes 0..3
    act = QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=2, return_quant_tensor=True).eval()
    assert float(act.act_quant.scale()) == 0.25
    return act


def test_fold_thresholds_by_hand_with_ties_and_negative_gamma():
    # channel 0: y = acc/8 -> code = clamp(round_half_even(acc/2), 0, 3)
    #   acc=1 -> round(0.5)=0, acc=2 -> 1, acc=3 -> round(1.5)=2, acc=5 -> round(2.5)=2, acc=6 -> 3
    # channel 1: gamma -1, beta 0.75: y = -acc/8 + 0.75; in the negated domain a=-acc,
    #   code = clamp(round(a/2 + 3)): a=-5 -> round(0.5)=0, a=-4 -> 1, a=-3 -> round(1.5)=2, a=-1 -> round(2.5)=2, a=0 -> 3
    bn = _bn([1.0, -1.0], [0.0, 0.75])
    thresholds, negate = fold_thresholds(bn, _relu_2bit(), np.array([-10, -10]), np.array([10, 10]), -3, 3)
    assert thresholds.tolist() == [[2, 3, 6], [-4, -3, 0]]
    assert negate.tolist() == [False, True]


def test_fold_thresholds_marks_unreachable_levels_past_the_range():
    bn = _bn([1.0], [0.0])
    thresholds, _ = fold_thresholds(bn, _relu_2bit(), np.array([0]), np.array([4]), -3, 3)
    assert thresholds.tolist() == [[2, 3, 5]]     # level 3 needs acc 6 > 4: "never" = hi + 1


def test_small_ops_reference():
    x = np.arange(2 * 4 * 4).reshape(1, 2, 4, 4)
    g = _graph(IntType(6, False, -2), (2, 4, 4))
    g.add(MaxPool2x2("p", ["input"]))
    g.add(Upsample2x("u", ["p"]))
    pooled = g.run(x)["p"]
    assert pooled[0, 0].tolist() == [[5, 7], [13, 15]]
    assert g.run(x)["u"][0, 1].tolist() == [[21, 21, 23, 23], [21, 21, 23, 23], [29, 29, 31, 31], [29, 29, 31, 31]]


def test_concat_aligns_exponents_with_shifts():
    g = Graph("t", InputQuant(IntType(3, False, -1)), Tensor.full_range("input", (1, 2, 2), IntType(3, False, -1)))
    g.tensors["b"] = Tensor.full_range("b", (2, 2, 2), IntType(4, False, -3))
    out = g.add(Concat("cat", ["input", "b"]))
    assert g.op("cat").shifts == [2, 0]
    assert out.dtype == IntType(5, False, -3)  # 7 << 2 = 28 needs 5 bits
    a, b = np.full((1, 1, 2, 2), 7), np.full((1, 2, 2, 2), 15)
    assert g.op("cat").reference(a, b)[0, :, 0, 0].tolist() == [28, 15, 15]


def test_conv_transpose_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, (2, 3, 4, 5))
    w = rng.integers(-7, 8, (4, 3, 2, 2))                    # IR layout [O, C, 2, 2]
    g = _graph(IntType(4, False, 0), (3, 4, 5))
    g.add(ConvTranspose2x2("t", ["input"], weights=w, weight_type=IntType(4, True, 0)))
    expected = torch.nn.functional.conv_transpose2d(torch.tensor(x, dtype=torch.float64),
                                                    torch.tensor(w.transpose(1, 0, 2, 3), dtype=torch.float64),
                                                    stride=2)
    assert np.array_equal(g.run(x)["t"], expected.numpy().astype(np.int64))


def test_int_type_covering():
    assert IntType.covering(0, 255) == IntType(8, False)
    assert IntType.covering(-128, 127) == IntType(8, True)
    assert IntType.covering(-129, 0) == IntType(9, True)
    assert IntType.covering(-1, 128) == IntType(9, True)
    assert IntType(5, True).ctype == "ap_int<5>" and IntType(3, False).ctype == "ap_uint<3>"


# ---- agreement with the model ----------------------------------------------------------------

def _phantom(n=4):
    return load_split("phantom", "val", size=32, channels=1, n_val=n).images


@pytest.mark.parametrize("seed", range(6))
def test_reference_equals_brevitas_for_random_bitwidths(seed):
    model, bits = randomised_tiny(seed)
    graph = lower_model(model, "random")
    result = compare(graph, model, _phantom())
    assert result["mismatches"] == 0, [r for r in result["layers"] if r["mismatches"]]
    assert result["mask_identical"]
    # the graph carries the learned widths
    weight_bits = [op.weight_type.bits for op in graph.weighted_ops]
    assert weight_bits == [model.weight_module(s.name).quant_weight().bit_width.item() for s in model.specs]


@pytest.mark.parametrize("bits", [2, 8])
def test_reference_equals_brevitas_at_the_range_ends(bits):
    model, _ = randomised_tiny(10 + bits, [bits] * 45)
    result = compare(lower_model(model), model, _phantom(2))
    assert result["mismatches"] == 0


def test_negative_gamma_channels_have_negated_weights(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint).build_model()
    with torch.no_grad():
        model.layers["enc2_conv1"].bn.weight[::2] *= -1
    graph = lower_model(model)
    op = graph.op("enc2_conv1")
    brevitas_codes = model.layers["enc2_conv1"].conv.quant_weight().int().numpy()
    assert np.array_equal(op.weights[::2], -brevitas_codes[::2])
    assert np.array_equal(op.weights[1::2], brevitas_codes[1::2])
    assert compare(graph, model, _phantom())["mismatches"] == 0


def test_trained_checkpoint_agrees_on_its_validation_images(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    model = ckpt.build_model()
    result = compare(lower_model(model), model, _phantom(16))
    assert result["mismatches"] == 0 and result["mask_identical"]
    assert result["elements"] > 16 * 32 * 32 * 20


# ---- refusals --------------------------------------------------------------------------------

def test_non_power_of_two_scale_is_refused_naming_the_layer():
    model = build_model(get_preset("tiny").model).eval()
    model.layers["dec3_conv1"].act = QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True).eval()
    with pytest.raises(QgenError, match="layer dec3_conv1 activations: scale .* not a power of two"):
        lower_model(model)


def test_unsupported_op_is_refused_naming_the_layer():
    model = build_model(get_preset("tiny").model).eval()
    model.layers["enc3_conv2"].conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)
    with pytest.raises(QgenError, match="layer enc3_conv2: unsupported op"):
        lower_model(model)


def test_bitwidth_outside_range_is_refused():
    with pytest.raises(QgenError, match="layer x weights: bitwidth 17 outside"):
        _bits(torch.tensor(17.0), "layer x weights")
    with pytest.raises(QgenError, match="not a power of two"):
        pot_exponent(torch.tensor(0.3), "layer y")


def test_float_checkpoint_is_refused():
    with pytest.raises(QgenError, match="float baseline"):
        lower_model(build_model(get_preset("tiny").model.replace(quantized=False)))


# ---- goldens, CLI, QONNX ---------------------------------------------------------------------

def test_goldens_round_trip_and_stream_order(tiny_checkpoint, tmp_path):
    graph = lower_model(load_checkpoint(tiny_checkpoint).build_model())
    images = _phantom(2)
    codes = graph.input_quant.quantize(images / 256.0)
    assert np.array_equal(codes, images)           # 8-bit input: the code is the pixel
    manifest = write_goldens(graph, codes, tmp_path, ["a", "b"])
    values = graph.run(codes)
    for entry in manifest["tensors"]:
        assert np.array_equal(read_tensor(tmp_path / entry["file"], tuple(entry["shape"])), values[entry["name"]])
    raw = np.fromfile(tmp_path / "enc1_conv1.bin", dtype="<i4")
    c = graph.tensors["enc1_conv1"].channels
    assert raw[:c].tolist() == values["enc1_conv1"][0, :, 0, 0].tolist()   # channels innermost
    assert json.loads((tmp_path / "manifest.json").read_text())["images"] == 2


def test_inspect_json(cli, tiny_checkpoint):
    result = cli("inspect", "--model", tiny_checkpoint, "--images", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    weighted = [r for r in report["layers"] if r["weight_bits"] is not None]
    assert len(weighted) == 23
    for key in ("name", "op", "weight_bits", "in_bits", "out_bits", "acc_bits", "macs"):
        assert key in weighted[0]
    assert report["agreement"]["mismatches"] == 0 and report["agreement"]["elements"] > 0


def test_qonnx_execution_matches_the_reference(cli, tiny_checkpoint, tmp_path):
    from codegen.qonnx_export import execute

    onnx_path = tmp_path / "m.onnx"
    assert cli("export-qonnx", "--model", tiny_checkpoint, "--out", onnx_path).exit_code == 0
    graph = lower_model(load_checkpoint(tiny_checkpoint).build_model())
    images = _phantom(2)
    qonnx_logits = execute(onnx_path, images / 256.0)
    ref = graph.run(graph.input_quant.quantize(images / 256.0))
    exp = graph.tensors["head"].dtype.exp
    assert np.array_equal(qonnx_logits.astype(np.float64), ref["head"] * 2.0 ** exp)
    assert np.array_equal((qonnx_logits > 0).astype(np.int64), ref["mask"])
