"""A checkpoint's integer graph and checked golden images, reused between runs of `qgen hls`.

Lowering a checkpoint and checking the integer reference against Brevitas on the golden images
take 5-9 s on the example, most of it importing torch and Brevitas and running them, and give the
same result every time for the same file. So the graph (codegen/ir/store.py), the images and the
verdict are cached under a key of the checkpoint's exact bytes, the image count and qgen's code
(codegen/cache.py); a hit imports neither torch nor Brevitas. Only checkpoints whose validation
images are the synthetic phantom are cached: images read from a data folder could change on disk
without the checkpoint changing.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from . import cache as qcache
from .ir.graph import Graph
from .ir.store import StoreError, graph_from_data, graph_to_data

KIND = "lowered"
MAX_CHECKPOINT_BYTES = 1 << 30
MAX_IMAGE_ID = 200


@dataclass
class Prepared:
    """What the HLS backends need from a checkpoint."""
    graph: Graph
    images: np.ndarray                      # [N, C, H, W] 8-bit pixels of the golden images
    image_ids: list[str]
    reference_checked: bool                 # the integer reference matched Brevitas on these images
    name_warning: str | None = None
    from_cache: bool = field(default=False, compare=False)

    @property
    def name(self) -> str:
        return self.graph.name


def prepare(model_path: Path, n_images: int, check_reference: bool, store=None) -> Prepared:
    """The lowered graph and `n_images` golden images, checked against Brevitas unless told not to."""
    store = store or qcache.shared()
    key = _key(model_path, n_images)
    if key is not None:
        hit = _load(store, key)
        if hit is not None and (hit.reference_checked or not check_reference):
            if hit.name_warning:
                click.echo(f"Warning: {hit.name_warning}", err=True)
            return hit
        if hit is not None:         # lowered without the check: the checked result replaces it
            store.discard(KIND, key)
    prepared = _lower(model_path, n_images, check_reference)
    if key is not None and prepared is not None and prepared[1]:
        _save(store, key, prepared[0])
    return prepared[0]


def _key(model_path: Path, n_images: int) -> str | None:
    try:
        if Path(model_path).stat().st_size > MAX_CHECKPOINT_BYTES:
            return None
        data = Path(model_path).read_bytes()
    except OSError:
        return None                 # lowering reports the problem in its own words
    return qcache.content_key(KIND, qcache.code_version(), data, str(n_images))


def _lower(model_path: Path, n_images: int, check_reference: bool) -> tuple[Prepared, bool]:
    """Lower with torch and Brevitas; (prepared, whether it may be cached)."""
    from .pipeline import check_reference as check, lower, validation_images

    lowered = lower(model_path)
    images, ids = validation_images(lowered.ckpt, n_images)
    if check_reference:
        check(lowered, images)
    cacheable = lowered.ckpt.data.get("kind", "phantom") == "phantom"
    return Prepared(lowered.graph, images, list(ids), check_reference, lowered.ckpt.name_warning), cacheable


def _save(store, key: str, prepared: Prepared) -> None:
    try:
        doc, arrays = graph_to_data(prepared.graph)
    except StoreError:
        return                      # an op holds something the store cannot write: no cache, same result
    entry = {"graph": doc, "image_ids": prepared.image_ids, "reference_checked": prepared.reference_checked,
             "name_warning": prepared.name_warning}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, images=np.ascontiguousarray(prepared.images))

    def fill(folder: Path) -> None:
        (folder / "arrays.npz").write_bytes(buffer.getvalue())
        (folder / "entry.json").write_text(json.dumps(entry))
    store.put(KIND, key, fill)


def _load(store, key: str) -> Prepared | None:
    folder = store.get(KIND, key)
    if folder is None:
        return None
    try:
        entry = json.loads((folder / "entry.json").read_text())
        with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        images = arrays.pop("images")
        graph = graph_from_data(entry["graph"], arrays)
        ids, checked, warning = entry["image_ids"], entry["reference_checked"], entry["name_warning"]
        if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != graph.input.shape
                or not isinstance(ids, list) or len(ids) != len(images)
                or not all(isinstance(i, str) and len(i) <= MAX_IMAGE_ID for i in ids)
                or not isinstance(checked, bool) or not (warning is None or isinstance(warning, str))):
            raise StoreError("cached images or their description are damaged")
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):   # StoreError is a ValueError
        store.discard(KIND, key)
        return None
    return Prepared(graph, images, ids, checked, warning, from_cache=True)
