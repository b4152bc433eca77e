"""`qgen report-resources`: real csynth numbers when Vitis has run, analytical estimates otherwise."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..console import console as make_console, echo_json
from ..errors import QgenError


@click.command("report-resources")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path), default=None, required=False)
@click.option("--csynth", "csynth_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="read this csynth.xml instead of searching the project")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="estimate straight from a checkpoint (no project needed)")
@click.option("--part", default=None, help="with --model: the part (default xc7z020)")
@click.option("--clock-ns", default=10.0, show_default=True, type=float, help="with --model: the clock")
@click.option("--folding", "folding_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="with --model: a folding JSON (default: fit the part)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write a self-contained HTML report")
def report_resources(project, csynth_path, model_path, part, clock_ns, folding_path, as_json, html_path):
    """LUT/FF/DSP/BRAM and latency per layer against the part, with a fit verdict and frame rate."""
    bit_rows = None
    if model_path is not None:
        report, bit_rows, title = _from_model(model_path, part or "xc7z020", clock_ns, folding_path)
    elif csynth_path is not None:
        report, title = _from_csynth(csynth_path, project), f"csynth {csynth_path}"
    else:
        from .hls_cmds import _only_project
        from ..hls.project import load_project
        from ..resources.csynth import find_report

        project = project or _only_project()
        root, manifest = load_project(project)
        bit_rows = manifest["layers"]
        title = f"{manifest['model']} on {manifest['part']}"
        found = find_report(root)
        if found is not None:
            report = _from_csynth(found, root)
        else:
            estimate = root / "resources_estimate.json"
            if not estimate.is_file():
                raise QgenError(f"{root} has neither a csynth.xml nor resources_estimate.json; regenerate it")
            report = json.loads(estimate.read_text())
    if html_path is not None:
        from ..resources.html import render_html
        html_path.write_text(render_html(report, title, bit_rows))
    if as_json:
        echo_json(report)
    else:
        _print(report, title)
        if html_path is not None:
            click.echo(f"wrote {html_path}")


def _from_model(model_path, part_name, clock_ns, folding_path):
    from ..hls.design import build_design
    from ..hls.fifo import assign_depths
    from ..hls.project import layer_rows
    from ..parts import resolve_part
    from ..pipeline import lower
    from ..resources.estimate import estimate_report
    from ..resources.fit import choose_folding

    part = resolve_part(part_name)
    lowered = lower(model_path)
    folding, warning = choose_folding(lowered.graph, part, clock_ns, folding_path=folding_path)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    design = build_design(lowered.graph, folding)
    assign_depths(design)
    return estimate_report(design, part, clock_ns), layer_rows(design), f"{lowered.name} on {part.full}"


def _from_csynth(path: Path, project: Path | None) -> dict:
    """Report from Vitis's csynth.xml: the top's totals, and per-layer rows from per-function reports."""
    from ..resources.csynth import parse_project_reports
    from ..resources.report import summarize

    top, functions = parse_project_reports(path)
    macs = None
    if project is not None and (project / "resources_estimate.json").is_file():
        macs = json.loads((project / "resources_estimate.json").read_text()).get("macs_per_frame")
    layers = [{"name": f["name"], "op": "", **f["resources"], "cycles": f["latency_worst"],
               "interval": f["interval_max"]} for f in functions]
    return summarize(source="csynth", part=top["part"] or "unknown", clock_ns=top["clock_ns"] or 0.0,
                     layers=layers, total=top["resources"], available=top["available"], macs_per_frame=macs,
                     interval_cycles=top["interval_max"],
                     extra={"csynth_file": top["file"], "vitis_version": top["version"],
                            "estimated_clock_ns": top["estimated_clock_ns"],
                            "latency_best": top["latency_best"], "latency_worst": top["latency_worst"]})


def _print(report: dict, title: str) -> None:
    from rich.table import Table

    console = make_console()
    label = "estimate (analytical, before synthesis)" if report["source"] == "estimate" else "Vitis csynth report"
    console.print(f"[bold]{title}[/bold] — {label}")
    table = Table("layer", "op", "LUT", "FF", "DSP", "BRAM_18K", "URAM", "cycles")
    for r in report["layers"]:
        cycles = r.get("cycles")
        table.add_row(r["name"], r.get("op", ""), f"{r['lut']:,}", f"{r['ff']:,}", f"{r['dsp']:,}",
                      f"{r['bram_18k']:,}", f"{r['uram']:,}", "undef" if cycles is None else f"{cycles:,}")
    total, avail, util = report["total"], report["available"], report["utilization_percent"]
    table.add_row("total", "", *[f"{total[k]:,} / {avail[k]:,}" for k in ("lut", "ff", "dsp", "bram_18k", "uram")],
                  "" if report["interval_cycles"] is None else f"{report['interval_cycles']:,}")
    console.print(table)
    pct = ", ".join(f"{k.upper()} {util[k]:.0f} %" for k in ("lut", "ff", "dsp", "bram_18k") if util[k] is not None)
    verdict = "[green]fits[/green]" if report["fits"] else "[red]does NOT fit[/red]"
    console.print(f"{verdict} on {report['part']} ({pct})")
    if report.get("fps"):
        line = f"interval {report['interval_cycles']:,} cycles -> {report['fps']:.1f} frames/s at {report['clock_ns']} ns"
        if report.get("roofline_ratio"):
            line += (f"; DSP roofline {report['dsp_roofline_fps']:.1f} frames/s "
                     f"({report['macs_per_frame']:,} MACs/frame): {100 * report['roofline_ratio']:.0f} %")
        console.print(line + f"; bottleneck {report['bottleneck']}")
    else:
        console.print("frame rate unknown (interval undef in the report)")


COMMANDS = [report_resources]
