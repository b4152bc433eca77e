"""Float baseline vs QuantU-Net on the shipped example checkpoints, next to the paper's numbers.

    python bench/reproduce_paper.py [--float examples/wearable_float.pt] [--quant examples/wearable_quantunet.pt]

Writes bench/results/paper_table.md (and .json). Both models are evaluated on the validation split
they were trained with (the phantom data set unless the checkpoints say otherwise).
"""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from quantunet.checkpoint import load_checkpoint  # noqa: E402
from quantunet.evaluation import evaluate_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"float_accuracy": 96.14, "quant_accuracy": 94.25, "avg_bits": 4.24, "size_ratio": "~8"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--float", dest="float_ckpt", default=ROOT / "examples" / "wearable_float.pt")
    parser.add_argument("--quant", dest="quant_ckpt", default=ROOT / "examples" / "wearable_quantunet.pt")
    parser.add_argument("--out", default=ROOT / "bench" / "results" / "paper_table")
    args = parser.parse_args()
    f = evaluate_checkpoint(load_checkpoint(args.float_ckpt))
    q = evaluate_checkpoint(load_checkpoint(args.quant_ckpt))
    drop = 100 * (f["pixel_accuracy"] - q["pixel_accuracy"])
    rows = [
        ("pixel accuracy (%)", f"{100 * f['pixel_accuracy']:.2f}", f"{100 * q['pixel_accuracy']:.2f}",
         f"{PAPER['float_accuracy']} / {PAPER['quant_accuracy']}"),
        ("accuracy drop (points)", "", f"{drop:.2f}", f"{PAPER['float_accuracy'] - PAPER['quant_accuracy']:.2f}"),
        ("Dice", f"{f['dice']:.4f}", f"{q['dice']:.4f}", "not reported"),
        ("IoU", f"{f['iou']:.4f}", f"{q['iou']:.4f}", "not reported"),
        ("average bits (all quantizers)", "32", f"{q['avg_bits']:.2f}", f"{PAPER['avg_bits']}"),
        ("average bits (weighted by size)", "32", f"{q['avg_bits_weighted']:.2f}", "not reported"),
        ("size (bytes)", f"{f['size_bytes']:,}", f"{q['size_bytes']:,}", "not reported"),
        ("size ratio vs float32", "1.00", f"{f['float_size_bytes'] / q['size_bytes']:.2f}", PAPER["size_ratio"]),
    ]
    table = ["| metric | float baseline | QuantU-Net (qgen) | paper (float / quant) |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = (f"# Float vs QuantU-Net ({q['data']['spec']} validation split, {q['data']['images']} images)\n\n"
            + "\n".join(table) + "\n\nThe paper's numbers are on the Kaggle LGG data set at 256x256 with 3 channels; "
            "qgen's example is the `wearable` preset on the phantom data set, so compare trends, not digits.\n")
    out = Path(args.out)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"float": f, "quantunet": q, "paper": PAPER}, indent=2))
    print(text)


if __name__ == "__main__":
    main()
