"""qgen checkpoints: a plain dict of tensors and JSON-like values, saved with torch.save.

Loading always uses `torch.load(..., weights_only=True)`, so a file that carries pickled code is
refused instead of executed. Everything needed to rebuild the network (the model config) and to
reproduce its evaluation (data description, seed) travels inside the file.
"""
from __future__ import annotations

import math
import os
import pickle
import platform
import re
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from .config import ModelConfig
from .errors import CheckpointError
from .model import QuantUNet, build_model

FORMAT = "qgen-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "config", "state_dict")
# A checkpoint's name reaches C++ sources, TCL scripts and folder names: it must be a plain C
# identifier. Anything else is replaced by a derived safe name, and the user is told.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_DATA_COUNT = 1_000_000
# Checked before torch.load, which holds the whole archive in memory: the paper preset's checkpoint
# (7.8 M parameters) is ~32 MB, so 1 GiB is far beyond any model qgen builds.
MAX_CHECKPOINT_BYTES = 1 << 30
# torch.save writes one archive entry per tensor storage plus a few (the example: 207 entries, an
# 18 KB central directory). Bounded before zipfile reads the directory, which it parses to its
# declared size whatever the declared count, at ~0.5 KB of Python objects per entry.
MAX_CHECKPOINT_ENTRIES = 100_000
MAX_CENTRAL_DIRECTORY_BYTES = 16 << 20
REAL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8,
               torch.int16, torch.int32, torch.int64, torch.bool)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, str]:
    return {"qgen": _version("qgen"), "torch": str(torch.__version__), "brevitas": _version("brevitas"),
            "python": platform.python_version()}


def safe_name(name) -> str:
    """`name` if it is a C identifier of at most 64 characters, else one derived from it."""
    text = name if isinstance(name, str) else ""
    if NAME_PATTERN.fullmatch(text):
        return text
    derived = re.sub(r"[^A-Za-z0-9_]", "_", text)[:64].strip("_") or "model"
    return derived if not derived[0].isdigit() else f"m_{derived}"[:64]


@dataclass
class Checkpoint:
    path: Path
    config: ModelConfig
    raw: dict

    @property
    def stored_name(self):
        return self.raw.get("name") or self.path.stem

    @property
    def name(self) -> str:
        """The model's name, safe for C++, TCL and paths (see `name_warning`)."""
        return safe_name(self.stored_name)

    @property
    def name_warning(self) -> str | None:
        if self.name == self.stored_name:
            return None
        shown = repr(self.stored_name)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return (f"checkpoint name {shown} is not a C identifier (letters, digits, _); "
                f"using '{self.name}' in generated code and paths")

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
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{self.path}: weights do not match its model config "
                                  f"({_first_problem(exc)})") from None
        model.eval()
        return model


def _first_problem(exc: Exception) -> str:
    """The first specific line of torch's load_state_dict error (its first line names no tensor)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    detail = next((line for line in lines if not line.startswith("Error(s) in loading")), lines[0] if lines else "")
    return detail if len(detail) <= 200 else detail[:197] + "..."


def _shown(value, limit: int = 40) -> str:
    """A value from the file, for a message: str() of a 5,000-digit int raises, of a huge list takes long."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value.bit_length() <= 64 else f"an integer of {value.bit_length():,} bits"
    if isinstance(value, (str, float, bool)) or value is None:
        text = repr(value)
        return text if len(text) <= limit else text[:limit - 3] + "..."
    return f"a {type(value).__name__}"


def _check_state_dict(path: Path, state) -> None:
    """Tensors of real numbers only, and every floating value finite (NaN weights or statistics make
    garbage hardware). Complex, quantized or other exotic tensors are refused: torch would silently
    drop an imaginary part when loading them into real parameters."""
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"'{path}' is a damaged qgen checkpoint: state_dict is not a map of tensors")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"'{path}' is a damaged qgen checkpoint: state_dict entry {_shown(key, 60)} "
                                  "is not a tensor")
        if value.dtype not in REAL_DTYPES:
            raise CheckpointError(f"'{path}': tensor {key} holds {value.dtype} values; a qgen checkpoint "
                                  "holds real numbers only")
        if value.layout != torch.strided:
            raise CheckpointError(f"'{path}': tensor {key} is stored as {value.layout}; expected a dense tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"'{path}': tensor {key} holds NaN or infinite values")
        if key.endswith("running_var") and bool((value < 0).any()):
            raise CheckpointError(f"'{path}': tensor {key} holds negative variances")


def _check_data(path: Path, data) -> None:
    """The data description decides which images are read: plain strings and bounded counts only."""
    if not isinstance(data, dict):
        raise CheckpointError(f"'{path}': 'data' must be a map, got {type(data).__name__}")
    for key in ("spec", "kind"):
        if key in data and not isinstance(data[key], str):
            raise CheckpointError(f"'{path}': data {key} must be a string")
    for key in ("n_train", "n_val", "seed", "size", "channels"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 0 <= value <= (2 ** 32 - 1 if key == "seed" else MAX_DATA_COUNT)):
            raise CheckpointError(f"'{path}': data {key} = {_shown(value)} is not a count in range")
    fraction = data.get("val_fraction")
    if fraction is not None and not (isinstance(fraction, float) and math.isfinite(fraction) and 0 < fraction < 1):
        raise CheckpointError(f"'{path}': data val_fraction must be a number between 0 and 1")


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
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes it private; a checkpoint is an ordinary file
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _check_archive(path: Path) -> None:
    """Refuse what is not a zip archive (torch.save writes one) or is larger than MAX_CHECKPOINT_BYTES
    on disk or unpacked (a small file whose entries claim gigabytes: torch.load would allocate what
    they claim). The end record is read first: zipfile parses the central directory to its declared
    size whatever count it declares, so both are bounded before it does."""
    limit = f"{MAX_CHECKPOINT_BYTES >> 20} MiB"
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"'{path}' is larger than {limit}: not a qgen checkpoint")
    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)       # the (zip64) end record: entry count, directory size
            if end is None:
                raise CheckpointError(f"'{path}' is not a qgen checkpoint (not a PyTorch archive)")
            if (end[zipfile._ECD_ENTRIES_TOTAL] > MAX_CHECKPOINT_ENTRIES
                    or end[zipfile._ECD_SIZE] > MAX_CENTRAL_DIRECTORY_BYTES):
                raise CheckpointError(f"'{path}' holds more than {MAX_CHECKPOINT_ENTRIES:,} entries or a central "
                                      f"directory over {MAX_CENTRAL_DIRECTORY_BYTES >> 20} MiB: not a qgen checkpoint")
            unpacked = sum(entry.file_size for entry in zipfile.ZipFile(f).infolist())
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        raise CheckpointError(f"'{path}' is not a qgen checkpoint (unreadable: {type(exc).__name__})") from None
    if unpacked > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"'{path}' unpacks to more than {limit}: not a qgen checkpoint")


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' " + ("is not a regular file" if path.exists() else "does not exist"))
    _check_archive(path)
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
    version = raw["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"'{path}' has an invalid format_version {_shown(version, 20)} (expected an integer)")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"'{path}' has checkpoint format {_shown(version)}; this qgen reads "
                              f"up to {FORMAT_VERSION} (upgrade qgen)")
    if not isinstance(raw.get("name", ""), (str, type(None))):
        raise CheckpointError(f"'{path}': name must be a string")
    if not isinstance(raw["config"], dict):
        raise CheckpointError(f"'{path}' has an invalid model config: not a map")
    try:
        config = ModelConfig.from_dict(raw["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"'{path}' has an invalid model config: {exc}") from None
    _check_state_dict(path, raw["state_dict"])
    _check_data(path, raw.get("data", {}))
    return Checkpoint(path=path, config=config, raw=raw)
