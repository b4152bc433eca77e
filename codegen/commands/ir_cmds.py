"""`qgen inspect`, `qgen goldens` and `qgen export-qonnx`: the integer graph and its cross-checks."""
from __future__ import annotations

from pathlib import Path

import click

from ..console import console as make_console, echo_json

MODEL_OPTION = click.option("--model", "model_path", required=True,
                            type=click.Path(dir_okay=False, path_type=Path), help="qgen checkpoint (.pt)")


@click.command()
@MODEL_OPTION
@click.option("--images", "n_images", default=16, show_default=True, type=click.IntRange(min=0),
              help="validation images for the reference-vs-Brevitas agreement (0: skip)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def inspect(model_path, n_images, as_json):
    """Show the integer graph: per-layer types, accumulator widths, MACs, and agreement with Brevitas."""
    from ..ir.agreement import compare
    from ..pipeline import lower, validation_images

    lowered = lower(model_path)
    graph = lowered.graph
    layers = graph.layer_table()
    totals = {"macs": sum(r["macs"] for r in layers), "weight_bytes": sum(r["weight_bytes"] for r in layers),
              "weighted_layers": len(graph.weighted_ops)}
    agreement = None
    if n_images:
        images, _ = validation_images(lowered.ckpt, n_images)
        agreement = compare(graph, lowered.model, images)
    if as_json:
        echo_json({"model": graph.name, "input": {"shape": list(graph.input.shape), **graph.input.dtype.to_dict()},
                   "layers": layers, "totals": totals, "agreement": agreement})
        return
    _print_graph(graph, layers, totals, agreement)


def _bits(value) -> str:
    if value is None:
        return "-"
    return "+".join(map(str, value)) if isinstance(value, list) else str(value)


def _print_graph(graph, layers, totals, agreement) -> None:
    from rich.table import Table

    console = make_console()
    t = graph.input.dtype
    console.print(f"[bold]{graph.name}[/bold]: input {tuple(graph.input.shape)} {t.describe()}")
    table = Table("layer", "op", "in shape", "out shape", "w bits", "in bits", "out bits", "acc bits",
                  "MACs", "weight B")
    for r in layers:
        table.add_row(r["name"], r["op"], " + ".join("x".join(map(str, s)) for s in r["in_shape"]),
                      "x".join(map(str, r["out_shape"])), _bits(r["weight_bits"]), _bits(r["in_bits"]),
                      _bits(r["out_bits"]), _bits(r["acc_bits"]), f"{r['macs']:,}", f"{r['weight_bytes']:,}")
    console.print(table)
    console.print(f"total: {totals['weighted_layers']} weighted layers, {totals['macs']:,} MACs per image, "
                  f"{totals['weight_bytes']:,} weight bytes")
    if agreement is None:
        return
    verdict = "[green]identical[/green]" if agreement["mismatches"] == 0 else "[red]DIFFERENT[/red]"
    console.print(f"reference vs Brevitas on {agreement['images']} validation images: "
                  f"{agreement['mismatches']} of {agreement['elements']:,} codes differ ({verdict}); "
                  f"masks {'identical' if agreement['mask_identical'] else 'differ'}")
    for row in agreement["layers"]:
        if row["mismatches"]:
            console.print(f"  {row['name']}: {row['mismatches']} of {row['elements']:,}")


@click.command()
@MODEL_OPTION
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--images", "n_images", default=4, show_default=True, type=click.IntRange(1, 10_000),
              help="validation images to compute goldens for")
@click.option("--force", is_flag=True, help="replace an existing non-empty folder")
@click.option("--json", "as_json", is_flag=True, help="print the manifest as JSON")
def goldens(model_path, out_dir, n_images, force, as_json):
    """Write golden vectors (input and every layer's output codes) for C++ testbenches."""
    from ..project_io import atomic_directory, check_target

    check_target(out_dir, force)     # before the slow part, and never delete a user's files unasked

    from ..goldens import write_goldens
    from ..pipeline import lower, validation_images

    lowered = lower(model_path)
    images, ids = validation_images(lowered.ckpt, n_images)
    with atomic_directory(out_dir, force=force) as tmp:
        manifest = write_goldens(lowered.graph, lowered.graph.input_quant.quantize(images / 256.0), tmp, ids)
    if as_json:
        echo_json(manifest)
    else:
        click.echo(f"wrote {len(manifest['tensors'])} tensors for {manifest['images']} images to {out_dir}")


@click.command("export-qonnx")
@MODEL_OPTION
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite an existing file")
def export_qonnx_cmd(model_path, out_path, force):
    """Export the quantized model to QONNX (for FINN, qonnx and hls4ml users)."""
    from ..safe_io import check_new_file

    check_new_file(out_path, force, "QONNX file")     # before torch is imported and the model exported

    from ..qonnx_export import export

    export(model_path, out_path, force)
    click.echo(f"wrote {out_path}")


COMMANDS = [inspect, goldens, export_qonnx_cmd]
