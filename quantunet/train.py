"""Training loop of QuantU-Net and its float baseline.

Deterministic for a seed on CPU: one seeded generator drives shuffling and augmentation, and
PyTorch is asked for deterministic kernels. When launched by `torchrun`, training runs data-parallel
(DDP) with one shard of every batch per process; only rank 0 evaluates and writes the checkpoint.
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from . import data as datasets
from .checkpoint import save_checkpoint
from .config import get_preset
from .errors import TrainingError
from .losses import HardwareObjective, QuantUNetLoss
from .metrics import ConfusionCounts, evaluate, images_to_input, size_report
from .model import build_model


@dataclass
class TrainArgs:
    preset: str = "tiny"
    data: str = "phantom"
    epochs: int = 10
    lambda_bits: float = 0.25
    bit_loss: str = "mean"
    lr: float = 2e-3
    bits_lr: float = 2e-2          # learned bitwidths need a larger step than weights, or they never move
    freeze_bits_at: float = 1.0    # fraction of training after which bitwidths stop (1: never)
    batch_size: int | None = None  # preset default
    seed: int = 0
    quantized: bool = True
    n_train: int | None = None     # phantom sizes; preset default
    n_val: int | None = None
    device: str = "cpu"
    init_bits: int | None = None   # override the preset's starting bitwidth
    init_from: str | None = None   # checkpoint whose weights start training (e.g. the float twin)
    # hardware (the objective itself is passed to train(); these record what it was asked)
    part: str | None = None        # fit hinge on this part (cost and figures use it, else xc7z020)
    target_fps: float | None = None
    clock_ns: float = 10.0
    max_utilization: float = 0.8   # the fit budget's share of the part
    fit_weight: float = 1.0        # weight of the fit hinge


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


class _Distributed:
    """The torchrun environment, or a single process."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        try:
            parsed = torch.device(device)
        except (RuntimeError, ValueError):
            raise TrainingError(f"unknown device '{device}' (use cpu or cuda)") from None
        if parsed.type not in ("cpu", "cuda"):
            raise TrainingError(f"device '{device}' is not supported (use cpu or cuda)")
        if parsed.type == "cuda" and not torch.cuda.is_available():
            raise TrainingError(f"device '{device}' requested, but this torch build sees no CUDA GPU")
        if self.world > 1 and parsed.type == "cuda":
            device = f"cuda:{local}"
            torch.cuda.set_device(local)
        self.device = torch.device(device)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        return indices[self.rank::self.world]

    def close(self):
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _augment(images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator):
    """Random horizontal/vertical flips (anatomy is roughly symmetric; tumours are not placed by side)."""
    if torch.rand((), generator=gen) < 0.5:
        images, masks = images.flip(-1), masks.flip(-1)
    if torch.rand((), generator=gen) < 0.5:
        images, masks = images.flip(-2), masks.flip(-2)
    return images, masks


def train(args: TrainArgs, progress=None, hardware: HardwareObjective | None = None) -> tuple[torch.nn.Module, dict]:
    """Train and return (model, summary). `progress(epoch, step, steps, stats)` is called per step.

    `hardware` (quantized models only) estimates the design the model becomes: its figures of the
    current rounded widths join the progress stats, every epoch's history and the summary; it
    supplies the cost term of `bit_loss="cost"` and, when `hardware.enforce_fit`, the fit hinge.
    Refreshed (the model re-lowered) every `hardware.refresh_steps` steps when it is in the loss,
    at every epoch's end otherwise."""
    preset = get_preset(args.preset)
    cfg = preset.model.replace(quantized=args.quantized)
    if args.init_bits is not None:
        cfg = cfg.replace(init_bits=args.init_bits)
    batch_size = args.batch_size or preset.batch_size
    n_train = args.n_train or preset.n_train
    n_val = args.n_val or preset.n_val
    load = dict(size=cfg.input_size, channels=cfg.in_channels, seed=args.seed, n_train=n_train, n_val=n_val)
    train_set = datasets.load_split(args.data, "train", **load)
    val_set = datasets.load_split(args.data, "val", **load)

    if args.quantized and hardware is None and (args.bit_loss == "cost" or args.part):
        raise TrainingError("--bit-loss cost and --part need the hardware estimator (qgen train attaches it)")
    if not args.quantized:
        hardware = None
    gen = seed_everything(args.seed)
    env = _Distributed(args.device)
    model = build_model(cfg)
    if args.init_from:
        init_from_checkpoint(model, args.init_from)
    model = model.to(env.device)
    net = DistributedDataParallel(model) if env.world > 1 else model
    optimizer = torch.optim.Adam([
        {"params": model.other_parameters(), "lr": args.lr},
        {"params": model.bit_parameters(), "lr": args.bits_lr},
    ])
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    total_steps = max(1, args.epochs * steps_per_epoch)
    # cosine decay of the weight learning rate; bitwidths keep their rate so they can still settle,
    # until `freeze_bits_at`: from there the weights adapt to widths that no longer change
    freeze_step = args.freeze_bits_at * total_steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, [lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)),
                    lambda s: 1.0 if s < freeze_step else 0.0])
    criterion = QuantUNetLoss(args.lambda_bits, args.bit_loss if args.quantized else "mean", hardware,
                              args.fit_weight)
    in_loss = hardware is not None and (args.bit_loss == "cost" or hardware.enforce_fit)
    figures = _refresh(hardware, model, in_loss)
    images = torch.as_tensor(train_set.images)
    masks = torch.as_tensor(train_set.masks).unsqueeze(1).float()

    history = []
    started = time.time()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(train_set), generator=gen)
        counts = ConfusionCounts()
        running = 0.0
        for step in range(steps_per_epoch):
            batch = env.shard(order[step * batch_size:(step + 1) * batch_size])
            x, y = _augment(images_to_input(images[batch]), masks[batch], gen)
            x, y = x.to(env.device), y.to(env.device)
            logits = net(x)
            loss, parts = criterion(logits, y, model)
            if not torch.isfinite(loss):
                raise TrainingError(f"the loss became {float(loss)} at epoch {epoch + 1}, step {step + 1}; "
                                    "lower --lr or --bits-lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if in_loss and (step + 1) % hardware.refresh_steps == 0:
                figures = _refresh(hardware, model, in_loss)
            running += parts["loss"]
            counts.update((logits.detach() > 0).cpu().numpy(), y.cpu().numpy())
            if progress is not None and env.main:
                stats = {"loss": running / (step + 1), "dice": counts.summary()["dice"],
                         "bits": _mean_bits(model), **_hardware_stats(figures)}
                progress(epoch, step + 1, steps_per_epoch, stats)
        figures = _refresh(hardware, model, in_loss) or figures
        if env.main:
            val = evaluate(model, val_set, batch_size)
            history.append({"epoch": epoch + 1, "train_loss": running / steps_per_epoch,
                            "train_dice": counts.summary()["dice"], **{f"val_{k}": v for k, v in val.items()},
                            "avg_bits": _mean_bits(model), **({"hardware": figures} if figures else {})})
    env.close()
    model.eval()
    summary = {
        "config": cfg.to_dict(),
        "args": asdict(args),
        "history": history,
        "seconds": time.time() - started,
        "rank": env.rank,
    }
    if hardware is not None:
        summary["hardware"] = figures
    if env.main:
        summary["metrics"] = {**evaluate(model, val_set, batch_size), **size_report(model)}
        summary["data"] = {**datasets.describe(args.data), "split": "val", "seed": args.seed,
                           "n_train": n_train, "n_val": n_val, "size": cfg.input_size,
                           "channels": cfg.in_channels}
    return model, summary


TOPOLOGY_KEYS = ("in_channels", "input_size", "base_width", "depth", "upsample")


def init_from_checkpoint(model, path) -> int:
    """Copy weights and BatchNorm statistics from another checkpoint of the same topology.

    Quantization-aware training usually starts from the trained float twin: the network has
    learnt its features before the bitwidths start to shrink. Returns the number of tensors copied.
    """
    from .checkpoint import CheckpointError, load_checkpoint

    source = load_checkpoint(path)
    for key in TOPOLOGY_KEYS:
        if getattr(source.config, key) != getattr(model.cfg, key):
            raise CheckpointError(f"--init-from '{path}' has {key}={getattr(source.config, key)}, "
                                  f"the model being trained has {getattr(model.cfg, key)}")
    own = model.state_dict()
    # weights and BatchNorm only: quantizer state (scales, bitwidths) starts fresh
    copied = {k: v for k, v in source.raw["state_dict"].items()
              if k in own and own[k].shape == v.shape and ("quant" not in k)}
    model.load_state_dict(copied, strict=False)
    return len(copied)


def _refresh(hardware, model, required: bool) -> dict | None:
    """The hardware estimator's figures of the current widths. When they only inform (no cost term,
    no hinge), a model the estimator cannot handle trains on without them."""
    if hardware is None:
        return None
    try:
        return hardware.refresh(model)
    except TrainingError:
        if required:
            raise
        return None


def _hardware_stats(figures: dict | None) -> dict:
    """The progress bar's hardware fields (figures of the last refresh)."""
    if not figures:
        return {}
    return {"lut": figures["lut"], "dsp": figures["dsp"], "bram": figures["bram_18k"], "fps": figures["fps"]}


def _mean_bits(model) -> float:
    if not model.bit_quantizers():
        return 32.0
    with torch.no_grad():
        return float(model.bit_widths().mean())


def write_checkpoint(path, model, summary, name: str | None = None):
    return save_checkpoint(path, model, name=name, metrics=summary["metrics"], data=summary["data"],
                           training={"args": summary["args"], "history": summary["history"],
                                     "seconds": summary["seconds"],
                                     **({"hardware": summary["hardware"]} if summary.get("hardware") else {})})
