import pytest
import torch

from quantunet.config import get_preset
from quantunet.losses import QuantUNetLoss, bit_loss, soft_dice_loss
from quantunet.model import build_model


def test_dice_loss_is_zero_for_a_perfect_prediction_and_one_for_disjoint():
    target = torch.zeros(1, 1, 8, 8)
    target[..., :4, :] = 1
    perfect = torch.where(target > 0, 50.0, -50.0)
    assert float(soft_dice_loss(perfect, target)) == pytest.approx(0.0, abs=1e-3)
    assert float(soft_dice_loss(-perfect, target)) == pytest.approx(1.0, abs=0.02)


def test_bit_loss_mean_and_size_weighted():
    model = build_model(get_preset("tiny").model)
    with torch.no_grad():
        for p in model.bit_parameters():
            p.fill_(2.0)  # 4 bits everywhere
        model.bit_parameters()[0].fill_(6.0)  # enc1_conv1 weights: 8 bits, only 36 parameters
    n = len(model.bit_parameters())
    assert float(bit_loss(model, "mean")) == pytest.approx((4 * (n - 1) + 8) / n / 8)
    # the size-weighted term barely notices a 36-parameter quantizer
    assert float(bit_loss(model, "size")) == pytest.approx(0.5, abs=0.002)
    with pytest.raises(ValueError):
        bit_loss(model, "median")


def test_total_loss_combines_terms_with_lambda():
    model = build_model(get_preset("tiny").model)
    logits, target = torch.zeros(1, 1, 32, 32), torch.ones(1, 1, 32, 32)
    base, parts0 = QuantUNetLoss(0.0)(logits, target, model)
    total, parts = QuantUNetLoss(0.25)(logits, target, model)
    assert float(total - base) == pytest.approx(0.25 * parts["bit_loss"])
    assert parts["bit_loss"] == pytest.approx(1.0)  # every bitwidth starts at the maximum


def test_bit_loss_gradient_pushes_every_bitwidth_down():
    model = build_model(get_preset("tiny").model)
    bit_loss(model).backward()
    assert all(float(p.grad) > 0 for p in model.bit_parameters())
