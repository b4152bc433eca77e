"""`qgen train` and `qgen eval`: the model side."""
from __future__ import annotations

from pathlib import Path

import click

from ..console import console as make_console, echo_json
from ..errors import QgenError
from .params import NON_NEGATIVE, POSITIVE


@click.command()
@click.option("--preset", default="tiny", show_default=True, help="tiny | wearable | paper")
@click.option("--data", "data_spec", default="phantom", show_default=True,
              help="'phantom' or a folder (Kaggle LGG layout, or images/ + masks/)")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--lambda-bits", default=0.25, show_default=True, type=NON_NEGATIVE,
              help="weight of the bitwidth term in the loss")
@click.option("--bit-loss", type=click.Choice(["mean", "size"]), default="mean", show_default=True,
              help="plain mean of bitwidths, or weighted by parameter/activation counts")
@click.option("--lr", default=2e-3, show_default=True, type=POSITIVE, help="learning rate of weights")
@click.option("--bits-lr", default=2e-2, show_default=True, type=NON_NEGATIVE, help="learning rate of the bitwidths")
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
@click.option("--name", default=None, help="model name stored in the checkpoint (default: file stem)")
@click.option("--json", "as_json", is_flag=True, help="print the final metrics as JSON")
def train(preset, data_spec, epochs, lambda_bits, bit_loss, lr, bits_lr, batch_size, n_train, n_val, init_bits,
          init_from, float_model, seed, device, out_path, name, as_json):
    """Train QuantU-Net (or its float baseline) and write a checkpoint."""
    from quantunet.config import get_preset
    from quantunet.train import TrainArgs, train as run_training, write_checkpoint

    try:
        get_preset(preset)
    except ValueError as exc:
        raise QgenError(str(exc)) from None
    args = TrainArgs(preset=preset, data=data_spec, epochs=epochs, lambda_bits=lambda_bits, bit_loss=bit_loss,
                     lr=lr, bits_lr=bits_lr, batch_size=batch_size, seed=seed, quantized=not float_model,
                     n_train=n_train, n_val=n_val, device=device, init_bits=init_bits,
                     init_from=init_from)
    with _TrainProgress(epochs, enabled=not as_json) as progress:
        model, summary = run_training(args, progress=progress.update)
    if summary["rank"] != 0:
        return
    write_checkpoint(out_path, model, summary, name=name)
    metrics = summary["metrics"]
    if as_json:
        echo_json({"checkpoint": str(out_path), **metrics, "seconds": summary["seconds"]})
        return
    click.echo(f"wrote {out_path}  ({summary['seconds']:.1f} s)")
    _print_metrics(metrics)


class _TrainProgress:
    """A rich progress bar per epoch showing loss, Dice and the mean learned bitwidth."""

    def __init__(self, epochs: int, enabled: bool):
        self.epochs, self.enabled = epochs, enabled
        self.bar = self.task = None
        self.epoch = -1

    def __enter__(self):
        return self

    def _start(self):
        # started on the first step, so that errors before training (bad data path...) print alone
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("loss {task.fields[loss]:.3f}  dice {task.fields[dice]:.3f}  "
                                       "bits {task.fields[bits]:.2f}"),
                            TimeRemainingColumn(), transient=False)
        self.bar.__enter__()

    def update(self, epoch, step, steps, stats):
        if not self.enabled:
            return
        if self.bar is None:
            self._start()
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
