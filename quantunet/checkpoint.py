"""qgen checkpoints: a plain dict of tensors and JSON-like values, saved with torch.save.

Loading always uses `torch.load(..., weights_only=True)`, so a file that carries pickled code is
refused instead of executed. Everything needed to rebuild the network (the model config) and to
reproduce its evaluation (data description, seed) travels inside the file.
"""
from __future__ import annotations

import os
import pickle
import platform
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from .config import ModelConfig
from .model import QuantUNet, build_model

FORMAT = "qgen-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "config", "state_dict")


class CheckpointError(ValueError):
    """The file is missing, unreadable, unsafe or not a qgen checkpoint. One-line message."""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    return {"qgen": _version("qgen"), "torch": str(torch.__version__), "brevitas": _version("brevitas"),
            "python": platform.python_version()}


@dataclass
class Checkpoint:
    path: Path
    config: ModelConfig
    raw: dict

    @property
    def name(self) -> str:
        return self.raw.get("name") or self.path.stem

    @property
    def data(self) -> dict:
        return self.raw.get("data", {})

    @property
    def metrics(self) -> dict:
        return self.raw.get("metrics", {})

    def build_model(self) -> QuantUNet:
        model = build_model(self.config)
        try:
            model.load_state_dict(self.raw["state_dict"])
        except (RuntimeError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise CheckpointError(f"{self.path}: weights do not match its model config ({first})") from None
        model.eval()
        return model


def _plain(value):
    """Metadata as builtin types only, so that a weights_only load accepts it."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return type(value)(value) if value is not None else None
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    return str(value)


def save_checkpoint(path: str | Path, model: QuantUNet, *, name: str | None = None, metrics: dict | None = None,
                    data: dict | None = None, training: dict | None = None) -> Path:
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name or path.stem,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "bit_table": _plain(model.bit_table()),
        "metrics": _plain(metrics or {}),
        "data": _plain(data or {}),
        "training": _plain(training or {}),
        "versions": versions(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # write-then-rename: an interrupted save never leaves a truncated checkpoint behind
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    if not zipfile.is_zipfile(path):   # torch.save writes a zip archive
        raise CheckpointError(f"'{path}' is not a qgen checkpoint (not a PyTorch archive)")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"'{path}' is not a qgen checkpoint: it contains objects that a safe "
                              "(weights_only) load refuses") from None
    except Exception as exc:  # zip/pickle/EOF errors: the file is not a torch.save archive
        raise CheckpointError(f"'{path}' is not a qgen checkpoint (unreadable: {type(exc).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a qgen checkpoint (no '{FORMAT}' marker)")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise CheckpointError(f"'{path}' is a damaged qgen checkpoint: missing {', '.join(missing)}")
    if raw["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"'{path}' has checkpoint format {raw['format_version']}; this qgen reads "
                              f"up to {FORMAT_VERSION} (upgrade qgen)")
    try:
        config = ModelConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"'{path}' has an invalid model config: {exc}") from None
    return Checkpoint(path=path, config=config, raw=raw)
