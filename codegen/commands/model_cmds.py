"""`qgen train` and `qgen eval`: the model side."""
from __future__ import annotations

import re
from pathlib import Path

import click

from ..console import console as make_console, echo_json
from ..errors import QgenError
from .params import CLOCK_NS, NON_NEGATIVE, POSITIVE


@click.command()
@click.option("--preset", default="tiny", show_default=True, help="tiny | wearable | paper")
@click.option("--data", "data_spec", default="phantom", show_default=True,
              help="'phantom' or a folder (Kaggle LGG layout, or images/ + masks/)")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--lambda-bits", default=0.25, show_default=True, type=NON_NEGATIVE,
              help="weight of the bitwidth term in the loss")
@click.option("--bit-loss", type=click.Choice(["mean", "size", "cost"]), default="mean", show_default=True,
              help="bitwidth term: plain mean, mean weighted by parameter/activation counts, or the estimated "
                   "hardware cost (LUT-equivalents on --part, xc7z020 without it)")
@click.option("--part", default=None, help="add a hinge that is zero while the fitted design fits this part")
@click.option("--target-fps", type=POSITIVE, default=None,
              help="with --part: the design must fit at this frame rate (estimate)")
@click.option("--clock-ns", default=10.0, show_default=True, type=CLOCK_NS, help="clock of the frame rates")
@click.option("--max-utilization", default=0.8, show_default=True, type=click.FloatRange(0.05, 1.0),
              help="share of the part the design may use, as in qgen hls")
@click.option("--fit-weight", default=1.0, show_default=True, type=NON_NEGATIVE, help="weight of the fit hinge")
@click.option("--lr", default=2e-3, show_default=True, type=POSITIVE, help="learning rate of weights")
@click.option("--bits-lr", default=2e-2, show_default=True, type=NON_NEGATIVE, help="learning rate of the bitwidths")
@click.option("--freeze-bits-at", default=1.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="fraction of training after which the bitwidths stop moving and only weights train")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="default: the preset's")
@click.option("--n-train", type=click.IntRange(min=1), default=None, help="phantom training slices (preset default)")
@click.option("--n-val", type=click.IntRange(min=1), default=None, help="phantom validation slices (preset default)")
@click.option("--init-bits", type=click.IntRange(2, 16), default=None, help="starting bitwidth (preset default 8)")
@click.option("--init-from", type=click.Path(dir_okay=False), default=None,
              help="start from the weights of this checkpoint (e.g. the trained float twin)")
@click.option("--float", "float_model", is_flag=True, help="train the float baseline of the same topology")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2 ** 32 - 1))
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda (torchrun launches DDP)")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite an existing checkpoint at --out")
@click.option("--name", default=None, help="model name stored in the checkpoint (default: file stem)")
@click.option("--json", "as_json", is_flag=True, help="print the final metrics as JSON")
def train(preset, data_spec, epochs, lambda_bits, bit_loss, part, target_fps, clock_ns, max_utilization, fit_weight,
          lr, bits_lr, freeze_bits_at, batch_size, n_train, n_val, init_bits, init_from, float_model, seed, device,
          out_path, force, name, as_json):
    """Train QuantU-Net (or its float baseline) and write a checkpoint.

    Quantized training shows the estimated LUT/DSP/BRAM and frames/s of the design the current
    bitwidths make (the fitted folding on --part, xc7z020 without it) and records them."""
    from quantunet.config import get_preset
    from quantunet.data import describe

    # every option is checked before torch is imported (seconds) and before hours of training
    try:
        get_preset(preset)
    except ValueError as exc:
        raise QgenError(str(exc)) from None
    if float_model and (bit_loss == "cost" or part or target_fps):
        raise QgenError("the float baseline has no bitwidths to cost: --bit-loss cost, --part and --target-fps "
                        "apply to quantized training only")
    if target_fps is not None and part is None:
        raise QgenError("--target-fps needs --part (the part the design must fit at that rate)")
    if part is not None:
        from ..parts import resolve_part
        resolve_part(part)
    if not re.fullmatch(r"cpu|cuda(:[0-9]{1,3})?", device):
        raise QgenError(f"unknown device {device!r} (use cpu or cuda)")
    if data_spec != "phantom":
        describe(data_spec)          # the folder exists and has a known layout
    if out_path.is_dir():
        raise QgenError(f"--out '{out_path}' is a folder; the checkpoint needs a file name")
    if (out_path.exists() or out_path.is_symlink()) and not force:
        raise QgenError(f"'{out_path}' already exists; use --force to overwrite it")

    from quantunet.train import TrainArgs, train as run_training, write_checkpoint

    args = TrainArgs(preset=preset, data=data_spec, epochs=epochs, lambda_bits=lambda_bits, bit_loss=bit_loss,
                     lr=lr, bits_lr=bits_lr, freeze_bits_at=freeze_bits_at, batch_size=batch_size, seed=seed,
                     quantized=not float_model, n_train=n_train, n_val=n_val, device=device, init_bits=init_bits,
                     init_from=init_from, part=part, target_fps=target_fps, clock_ns=clock_ns,
                     max_utilization=max_utilization, fit_weight=fit_weight)
    hardware = None if float_model else _hardware_objective(part, target_fps, clock_ns, max_utilization)
    with _TrainProgress(epochs, enabled=not as_json, hardware=hardware is not None) as progress:
        model, summary = run_training(args, progress=progress.update, hardware=hardware)
    if summary["rank"] != 0:
        return
    write_checkpoint(out_path, model, summary, name=name)
    metrics = summary["metrics"]
    if as_json:
        echo_json({"checkpoint": str(out_path), **metrics, "seconds": summary["seconds"],
                   "hardware": summary.get("hardware")})
        return
    click.echo(f"wrote {out_path}  ({summary['seconds']:.1f} s)")
    _print_metrics(metrics)
    if summary.get("hardware"):
        _print_hardware(summary["hardware"])


def _hardware_objective(part, target_fps, clock_ns, max_utilization):
    from ..objective.hardware import HardwareObjective
    from ..parts import resolve_part

    return HardwareObjective(resolve_part(part or REFERENCE_PART), enforce_fit=part is not None,
                             target_fps=target_fps, clock_ns=clock_ns, headroom=max_utilization)


def _print_hardware(fig: dict) -> None:
    verdict = "fits" if fig["fits"] else "does NOT fit"
    click.echo(f"estimate on {fig['part']} ({fig['folding']}): LUT {fig['lut']:,}  FF {fig['ff']:,}  "
               f"DSP {fig['dsp']:,}  BRAM_18K {fig['bram_18k']:,}  = {fig['lut_equivalents']:,.0f} LUT-equivalents; "
               f"{fig['fps']:.1f} frames/s; {verdict}")


REFERENCE_PART = "xc7z020"    # the wearable target: prices the cost term and the figures without --part


class _TrainProgress:
    """A rich progress bar per epoch: loss, Dice, the mean learned bitwidth and (quantized) the
    estimated resources and frame rate of the current widths."""

    def __init__(self, epochs: int, enabled: bool, hardware: bool = False):
        self.epochs, self.enabled, self.hardware = epochs, enabled, hardware
        self.bar = self.task = None
        self.epoch = -1

    def __enter__(self):
        return self

    def _start(self):
        # started on the first step, so that errors before training (bad data path...) print alone
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        text = "loss {task.fields[loss]:.3f}  dice {task.fields[dice]:.3f}  bits {task.fields[bits]:.2f}"
        if self.hardware:
            text += "  {task.fields[hw]}"
        self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn(text), TimeRemainingColumn(), transient=False)
        self.bar.__enter__()

    def update(self, epoch, step, steps, stats):
        if not self.enabled:
            return
        if self.bar is None:
            self._start()
        if self.hardware:
            stats = {**stats, "hw": (f"LUT {stats['lut']:,}  DSP {stats['dsp']}  BRAM {stats['bram']}  "
                                     f"{stats['fps']:.0f} fps" if "lut" in stats else "(no hardware estimate)")}
        if epoch != self.epoch:
            self.epoch = epoch
            self.task = self.bar.add_task("train", total=steps, epoch=f"{epoch + 1}/{self.epochs}", **stats)
        self.bar.update(self.task, completed=step, **stats)

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)


def _print_metrics(metrics: dict) -> None:
    click.echo(f"pixel accuracy {100 * metrics['pixel_accuracy']:.2f} %   Dice {metrics['dice']:.4f}   "
               f"IoU {metrics['iou']:.4f}")
    click.echo(f"average bits {metrics['avg_bits']:.2f} (weighted {metrics['avg_bits_weighted']:.2f}; "
               f"weights {metrics['avg_weight_bits']:.2f}, activations {metrics['avg_act_bits']:.2f})")
    click.echo(f"size {metrics['size_bytes']:,} B vs float32 {metrics['float_size_bytes']:,} B "
               f"({metrics['size_ratio']:.2f}x smaller)")


@click.command("eval")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="qgen checkpoint (.pt)")
@click.option("--data", "data_spec", default=None,
              help="'phantom' or a folder; default: the validation split the checkpoint was trained with")
@click.option("--split", type=click.Choice(["val", "train"]), default="val", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def eval_cmd(model_path, data_spec, split, as_json):
    """Evaluate a checkpoint: accuracy, Dice, IoU, learned bitwidths and model size."""
    if data_spec is not None and data_spec != "phantom":
        from quantunet.data import describe
        describe(data_spec)          # before torch is imported: the folder exists and has a known layout

    from quantunet.checkpoint import load_checkpoint
    from quantunet.evaluation import evaluate_checkpoint

    ckpt = load_checkpoint(model_path)
    report = evaluate_checkpoint(ckpt, data_spec=data_spec, split=split)
    if as_json:
        echo_json(report)
        return
    from rich.markup import escape
    from rich.table import Table

    console = make_console()
    kind = "QuantU-Net" if ckpt.config.quantized else "float baseline"
    console.print(f"[bold]{ckpt.name}[/bold] ({kind}) on {escape(str(report['data']['spec']))} / {split} "
                  f"({report['data']['images']} images)")
    table = Table("layer", "op", "weight bits", "act bits", "params", show_footer=False)
    for row in report["layers"]:
        table.add_row(row["name"], row["op"], str(row["weight_bits"]),
                      "-" if row["act_bits"] is None else str(row["act_bits"]), f"{row['params']:,}")
    console.print(table)
    _print_metrics(report)


COMMANDS = [train, eval_cmd]
