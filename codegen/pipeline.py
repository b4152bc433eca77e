"""Shared first steps of every codegen command: checkpoint -> model -> integer graph, and the images."""
from __future__ import annotations

from dataclasses import dataclass

import click
import numpy as np

from quantunet.checkpoint import Checkpoint, load_checkpoint
from quantunet.evaluation import checkpoint_split

from . import interrupts
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
    if ckpt.name_warning:
        click.echo(f"Warning: {ckpt.name_warning}", err=True)
    model = ckpt.build_model()
    interrupts.check()      # Ctrl-C while torch and Brevitas were importing
    return Lowered(ckpt, model, lower_model(model, ckpt.name))


def validation_images(ckpt: Checkpoint, count: int | None) -> tuple[np.ndarray, list[str]]:
    """The first `count` images (all if None) of the checkpoint's validation split, as 8-bit pixels."""
    dataset = checkpoint_split(ckpt, limit=count)
    return dataset.images, dataset.ids


def check_reference(lowered: Lowered, images: np.ndarray) -> None:
    """Refuse to generate hardware from an integer reference that disagrees with the Brevitas model
    on these images (the goldens would then certify the wrong numbers)."""
    from .errors import QgenError
    from .ir.agreement import compare

    report = compare(lowered.graph, lowered.model, images)
    if report["mismatches"]:
        bad = [r for r in report["layers"] if r["mismatches"]]
        first = bad[0]
        raise QgenError(f"the integer reference disagrees with Brevitas on {report['images']} golden images: "
                        f"{report['mismatches']:,} codes differ, first at layer {first['name']} "
                        f"({first['mismatches']:,} of {first['elements']:,}); nothing was written. Please report "
                        "this with the checkpoint (--skip-reference-check writes the project anyway)")
