"""Quantizers: power-of-two scales, learned bitwidths that actually move, and their bounds."""
import math

import torch

from quantunet.config import get_preset
from quantunet.model import build_model
from quantunet.train import TrainArgs, train


def _is_power_of_two(x) -> bool:
    e = math.log2(float(torch.as_tensor(x).detach()))
    return abs(e - round(e)) < 1e-12


def test_every_scale_is_a_power_of_two(tiny_checkpoint):
    from quantunet.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_checkpoint).build_model()
    for name, block in model.layers.items():
        assert _is_power_of_two(block.conv.quant_weight().scale), name
        assert _is_power_of_two(block.act.act_quant.scale()), name
    assert _is_power_of_two(model.head.quant_weight().scale)
    assert float(model.input_quant.act_quant.scale()) == 2.0 ** -8


def test_input_code_is_the_pixel():
    model = build_model(get_preset("tiny").model).eval()
    pixels = torch.arange(256, dtype=torch.float32).reshape(1, 1, 16, 16)
    q = model.input_quant(pixels / 256)
    assert torch.equal(q.int().float(), pixels)


def test_learned_bitwidths_move_during_training():
    """The Brevitas trap (#1156/#1177/#1372): bitwidths that silently never change."""
    before = build_model(get_preset("tiny").model).bit_table()
    model, _ = train(TrainArgs(preset="tiny", epochs=2, bits_lr=0.1, seed=3))
    after = model.bit_table()
    changed = [(b["name"], b["weight_bits"], a["weight_bits"], b["act_bits"], a["act_bits"])
               for b, a in zip(before, after)
               if (b["weight_bits"], b["act_bits"]) != (a["weight_bits"], a["act_bits"])]
    assert len(changed) >= 10, changed
    assert all(2 <= r["weight_bits"] <= 8 for r in after)


def test_frozen_bitwidths_stop_moving(monkeypatch):
    """--freeze-bits-at 0.5: the offsets after half of training are the final ones."""
    import quantunet.train as training

    seen = []
    real_evaluate = training.evaluate

    def record(model, *args, **kwargs):   # called at every epoch's end
        seen.append(torch.stack([p.detach().clone() for p in model.bit_parameters()]))
        return real_evaluate(model, *args, **kwargs)

    monkeypatch.setattr(training, "evaluate", record)
    model, _ = train(TrainArgs(preset="tiny", epochs=2, bits_lr=0.1, seed=3, freeze_bits_at=0.5))
    start = torch.stack([p.detach() for p in build_model(get_preset("tiny").model).bit_parameters()])
    assert not torch.equal(seen[0], start)                 # they moved in the first epoch
    assert torch.equal(seen[0], seen[1])                   # and not in the second


def test_bitwidth_parameters_receive_gradients_from_the_task_loss_alone():
    model = build_model(get_preset("tiny").model)
    model.train()
    x = torch.rand(2, 1, 32, 32)
    for _ in range(6):  # past the activation statistics phase
        model(x)
    model(x).pow(2).mean().backward()
    grads = [p.grad for p in model.bit_parameters()]
    assert len(grads) == 45  # 23 weight + 22 activation quantizers
    assert sum(g is not None and float(g.abs()) > 0 for g in grads) >= 40


def test_bitwidth_is_clamped_to_the_configured_range():
    cfg = get_preset("tiny").model.replace(min_bits=3, max_bits=6, init_bits=5)
    model = build_model(cfg)
    with torch.no_grad():
        params = model.bit_parameters()
        params[0].fill_(20.0)
        params[1].fill_(0.0)
    bits = model.bit_widths()
    assert float(bits[0]) == 6.0 and float(bits[1]) == 3.0


def test_float_baseline_has_no_quantizers():
    model = build_model(get_preset("tiny").model.replace(quantized=False))
    assert model.bit_quantizers() == [] and model.bit_parameters() == []
    assert model(torch.rand(1, 1, 32, 32)).shape == (1, 1, 32, 32)
