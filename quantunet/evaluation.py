"""Evaluate a checkpoint on the data it was trained with (or another data set)."""
from __future__ import annotations

from . import data as datasets
from .checkpoint import Checkpoint
from .metrics import evaluate, size_report


def checkpoint_split(ckpt: Checkpoint, data_spec: str | None = None, split: str = "val",
                     limit: int | None = None):
    """The checkpoint's own split by default: same source, seed and sizes as in training.

    `limit` keeps only the first images; the phantom then generates just those (each sample is
    generated from its own seed, so they are the same images).
    """
    described = ckpt.data
    spec = data_spec or described.get("spec", "phantom")
    same_source = spec == described.get("spec")
    n_train = described.get("n_train") if same_source else None
    n_val = described.get("n_val") if same_source else None
    if limit is not None and spec == "phantom":
        n_val = min(limit, n_val or limit)
    dataset = datasets.load_split(
        spec, split, size=ckpt.config.input_size, channels=ckpt.config.in_channels,
        seed=described.get("seed", 0) if same_source else 0, n_train=n_train, n_val=n_val)
    if limit is not None and len(dataset) > limit:
        dataset = datasets.SegmentationSet(dataset.images[:limit], dataset.masks[:limit], dataset.ids[:limit])
    return dataset


def evaluate_checkpoint(ckpt: Checkpoint, data_spec: str | None = None, split: str = "val") -> dict:
    model = ckpt.build_model()
    dataset = checkpoint_split(ckpt, data_spec, split)
    if len(dataset) == 0:
        raise datasets.DataError(f"the {split} split of {data_spec or 'the checkpoint data'} is empty")
    report = {
        "model": ckpt.name,
        "quantized": ckpt.config.quantized,
        **evaluate(model, dataset),
        **size_report(model),
        "layers": model.bit_table(),
        "data": {"spec": data_spec or ckpt.data.get("spec", "phantom"), "split": split, "images": len(dataset)},
    }
    return report
