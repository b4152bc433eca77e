"""Shared first steps of every codegen command: checkpoint -> model -> integer graph, and the images."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantunet.checkpoint import Checkpoint, load_checkpoint
from quantunet.evaluation import checkpoint_split

from .ir.frontend import lower_model
from .ir.graph import Graph


@dataclass
class Lowered:
    ckpt: Checkpoint
    model: object
    graph: Graph

    @property
    def name(self) -> str:
        return self.ckpt.name


def lower(path) -> Lowered:
    ckpt = load_checkpoint(path)
    model = ckpt.build_model()
    return Lowered(ckpt, model, lower_model(model, ckpt.name))


def validation_images(ckpt: Checkpoint, count: int | None) -> tuple[np.ndarray, list[str]]:
    """The first `count` images (all if None) of the checkpoint's validation split, as 8-bit pixels."""
    dataset = checkpoint_split(ckpt, limit=count)
    return dataset.images, dataset.ids
