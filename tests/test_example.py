"""The shipped example checkpoints: targets from the QuantU-Net paper, agreement, bit-exact C-simulation."""
import json
from pathlib import Path

import pytest

from codegen.ir.agreement import compare
from codegen.pipeline import lower, validation_images
from quantunet.checkpoint import load_checkpoint
from quantunet.evaluation import evaluate_checkpoint

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.fixture(scope="module")
def reports():
    quant = evaluate_checkpoint(load_checkpoint(EXAMPLES / "wearable_quantunet.pt"))
    floating = evaluate_checkpoint(load_checkpoint(EXAMPLES / "wearable_float.pt"))
    return quant, floating


def test_example_meets_the_paper_targets(reports):
    quant, floating = reports
    assert quant["dice"] >= 0.85
    assert quant["avg_bits"] <= 4.24
    assert 100 * (floating["pixel_accuracy"] - quant["pixel_accuracy"]) <= 1.89
    assert quant["float_size_bytes"] / quant["size_bytes"] >= 7.5


def test_eval_reproduces_the_metrics_stored_at_training(reports):
    quant, _ = reports
    stored = load_checkpoint(EXAMPLES / "wearable_quantunet.pt").metrics
    for key in ("pixel_accuracy", "dice", "iou", "avg_bits"):
        assert quant[key] == pytest.approx(stored[key], abs=1e-9)


def test_reference_agrees_with_brevitas_on_validation_images():
    lowered = lower(EXAMPLES / "wearable_quantunet.pt")
    images, _ = validation_images(lowered.ckpt, 8)
    result = compare(lowered.graph, lowered.model, images)
    assert result["mismatches"] == 0 and result["mask_identical"]


def test_example_csim_is_bit_exact(cli, tmp_path):
    out = tmp_path / "example"
    assert cli("hls", "--model", EXAMPLES / "wearable_quantunet.pt", "--out", out, "--images", "1").exit_code == 0
    report = json.loads(cli("csim", out, "--json").stdout)
    assert report["passed"] and report["mismatches"] == 0
