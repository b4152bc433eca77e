"""The hardware-cost bitwidth loss and the fit hinge (codegen/objective, qgen train --bit-loss cost / --part)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from codegen.hls.design import build_design
from codegen.hls.fifo import estimate_depths
from codegen.hls.folding import fully_folded
from codegen.ir.frontend import lower_model
from codegen.objective.design_cost import DesignCost
from codegen.objective.hardware import HardwareObjective
from codegen.objective.retype import Binding, retype
from codegen.parts import resolve_part
from codegen.resources.equivalents import PRICED, lut_equivalents
from codegen.resources.estimate import kernel_rows, totals
from quantunet.losses import QuantUNetLoss
from .randomized import randomised_tiny

XC7Z020 = resolve_part("xc7z020")


def _model(seed: int, bits):
    model, chosen = randomised_tiny(seed, bits=bits)
    return model, chosen


def _estimator_lut_eq(graph, folding) -> tuple[dict, float]:
    """What qgen report-resources computes for this graph and folding (the fitter's FIFO depths)."""
    design = build_design(graph, folding)
    estimate_depths(design)
    used = totals(kernel_rows(design))
    return used, lut_equivalents(used, XC7Z020.resources())


@pytest.mark.parametrize("seed", [3, 11])
def test_cost_term_equals_the_estimator_at_integer_widths(seed):
    bits = np.random.default_rng(seed).integers(2, 7, 45).tolist()
    model, _ = _model(seed, bits)
    objective = HardwareObjective(XC7Z020, enforce_fit=False)
    figures = objective.refresh(model)
    graph = lower_model(model, "check")
    # the term: the reference folding with each layer's multipliers where they cost fewer LUT-equivalents
    priced = objective.cost_design.design.folding
    _, lut_eq = _estimator_lut_eq(graph, priced)
    cost = float(objective.cost(model).detach())
    assert cost * objective.norm == pytest.approx(lut_eq, rel=1e-9)
    assert 0.0 < cost <= 1.0
    # the figures: the design qgen hls would build (its fitted folding, multipliers as the fitter chose)
    fitted = objective.fitted_design.design.folding
    assert {n: (f.pe, f.simd) for n, f in fitted.items()} == {n: (f.pe, f.simd) for n, f in priced.items()}
    used, fitted_lut_eq = _estimator_lut_eq(graph, fitted)
    assert {r: figures[r] for r in PRICED} == {r: used[r] for r in PRICED}
    assert figures["lut_equivalents"] == pytest.approx(fitted_lut_eq, abs=0.1)
    assert fitted_lut_eq >= lut_eq - 1e-6      # LUT or DSP by price is never dearer than the fitter's choice


def test_interpolation_is_exact_at_integers_and_linear_between():
    model, bits = _model(5, [4] * 45)
    graph = lower_model(model, "a")
    design = DesignCost(graph, fully_folded(graph), Binding.of(model, graph), 2, 8)
    other = list(bits)
    other[7], other[20] = 6, 3
    at_other = design.resources(torch.tensor(other, dtype=torch.float64)).numpy()
    assert np.allclose(at_other, design.at(tuple(other)))
    half = list(other)
    half[7] = 5.5             # halfway between 5 and 6 in one width: the mean of the two
    five = list(other)
    five[7] = 5
    mid = design.resources(torch.tensor(half, dtype=torch.float64)).numpy()
    assert np.allclose(mid, (design.at(tuple(five)) + design.at(tuple(other))) / 2)


def test_retyped_anchor_matches_lowering_at_other_widths():
    """The cost between refreshes comes from the retyped anchor: it must agree with lowering the
    model again at those widths (same tensor types; accumulators within a bit; cost within 2 %)."""
    rng = np.random.default_rng(0)
    for seed in (100, 101, 102):
        bits = rng.integers(2, 7, 45).tolist()
        model, _ = _model(seed, bits)
        graph = lower_model(model, "a")
        binding = Binding.of(model, graph)
        moved = list(bits)
        for i in rng.choice(45, 6, replace=False):
            moved[i] = int(np.clip(moved[i] + rng.choice([-1, 1]), 2, 8))
        again, _ = _model(seed, moved)
        fresh = lower_model(again, "b")
        retyped = retype(graph, binding, moved)
        assert all(retyped.tensors[t].dtype.bits == fresh.tensors[t].dtype.bits for t in fresh.tensors)
        for op in fresh.weighted_ops:
            assert abs(retyped.op(op.name).acc_type.bits - op.acc_type.bits) <= 1
        a = DesignCost(graph, fully_folded(graph), binding, 2, 8).at(tuple(moved))
        b = DesignCost(fresh, fully_folded(fresh), Binding.of(again, fresh), 2, 8).at(tuple(moved))
        av = XC7Z020.resources()
        assert lut_equivalents(dict(zip(PRICED, a)), av) == pytest.approx(lut_equivalents(dict(zip(PRICED, b)), av),
                                                                            rel=0.02)
    # and retyping to the anchor's own widths changes nothing
    same = retype(graph, binding, binding.bits_of(graph))
    for op in graph.weighted_ops:
        r = same.op(op.name)
        assert (r.weight_type, r.acc_type) == (op.weight_type, op.acc_type)
        assert (r.thresholds is None) == (op.thresholds is None)
        if op.thresholds is not None:
            assert (r.thresholds.out_type, r.thresholds.dtype) == (op.thresholds.out_type, op.thresholds.dtype)


def test_gradient_moves_the_expensive_layer_first():
    """One width dominates the cost: enc4_conv2's activations at 8 bits (others at 3) make its 2^8
    thresholds per channel, the skip FIFO to the decoder, the pool and the next layer's line buffer
    and multipliers wide. Plain gradient descent on the cost term alone takes that width down a
    whole bit before any other moves a whole bit (fully folded reference: 1 frame/s)."""
    model, _ = _model(7, [3] * 45)
    names = [(layer, kind) for layer, kind, _, _ in model.bit_quantizers()]
    expensive = names.index(("enc4_conv2", "act"))
    with torch.no_grad():
        model.bit_parameters()[expensive].fill_(8.0 - 2.0)
    objective = HardwareObjective(XC7Z020, enforce_fit=False, target_fps=1.0)
    objective.refresh(model)
    start = model.continuous_bit_widths().detach().clone()
    grad = torch.stack([g.abs() for g in torch.autograd.grad(objective.cost(model), model.bit_parameters())])
    assert int(grad.argmax()) == expensive
    # 1.34x the next largest (the next layer's row memory is a deep BRAM word now, not a wide LUTRAM)
    assert float(grad[expensive]) > 1.25 * float(torch.cat([grad[:expensive], grad[expensive + 1:]]).max())
    optimizer = torch.optim.SGD(model.bit_parameters(), lr=0.5 / float(grad.max()))
    for _ in range(50):
        optimizer.zero_grad()
        objective.cost(model).backward()
        optimizer.step()
        drop = start - model.continuous_bit_widths().detach()
        if drop.max() >= 1.0:
            break
    assert int(drop.argmax()) == expensive and drop[expensive] >= 1.0
    assert float(torch.cat([drop[:expensive], drop[expensive + 1:]]).max()) < 1.0


def test_hinge_is_zero_when_the_design_fits_and_grows_with_the_overshoot():
    model, _ = _model(9, [2] * 45)
    fits = HardwareObjective(XC7Z020, enforce_fit=True)
    figures = fits.refresh(model)
    assert figures["fits"] and fits.hinge(model).item() == 0.0
    # the same model under a budget far too small: positive hinge, and narrower widths lower it
    tight = HardwareObjective(XC7Z020, enforce_fit=True, headroom=0.05)
    figures = tight.refresh(model)
    assert not figures["fits"]
    hinge = tight.hinge(model)
    assert hinge.item() > 0
    model8, _ = _model(9, [4] * 45)
    tight.refresh(model8)
    assert tight.hinge(model8).item() > hinge.item()
    grads = torch.autograd.grad(tight.hinge(model8), model8.bit_parameters())
    assert all(float(g) >= 0 for g in grads) and any(float(g) > 0 for g in grads)


def test_target_fps_sets_the_reference_folding():
    model, _ = _model(9, [2] * 45)
    slow = HardwareObjective(XC7Z020, enforce_fit=True, target_fps=50.0).refresh(model)
    fast = HardwareObjective(XC7Z020, enforce_fit=True, target_fps=2000.0).refresh(model)
    assert slow["fps"] >= 50.0 and fast["fps"] >= 2000.0
    assert fast["lut_equivalents"] > slow["lut_equivalents"]


def test_cost_loss_needs_a_hardware_objective():
    with pytest.raises(ValueError, match="hardware objective"):
        QuantUNetLoss(0.25, "cost")


def test_train_with_cost_loss_records_the_hardware(cli, tmp_path):
    out = tmp_path / "c.pt"
    result = cli("train", "--preset", "tiny", "--epochs", "2", "--bits-lr", "0.2", "--bit-loss", "cost",
                 "--part", "xc7z020", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    hw = summary["hardware"]
    assert hw["part"] == "xc7z020" and hw["fps"] > 0 and hw["lut_equivalents"] > hw["lut"]
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["training"]["hardware"] == hw
    assert all("hardware" in epoch for epoch in ckpt["training"]["history"])
    assert ckpt["training"]["args"]["bit_loss"] == "cost" and ckpt["training"]["args"]["part"] == "xc7z020"
