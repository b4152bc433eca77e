"""`qgen report-resources`: real csynth numbers when Vitis has run, analytical estimates otherwise."""
from __future__ import annotations

from pathlib import Path

import click

from ..console import console as make_console, echo_json
from ..errors import QgenError
from .params import CLOCK_NS


@click.command("report-resources")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path), default=None, required=False)
@click.option("--csynth", "csynth_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="read this csynth.xml instead of searching the project")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="estimate straight from a checkpoint (no project needed)")
@click.option("--part", default=None, help="with --model: the part (default xc7z020)")
@click.option("--clock-ns", default=10.0, show_default=True, type=CLOCK_NS, help="with --model: the clock")
@click.option("--folding", "folding_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="with --model: a folding JSON (default: fit the part)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write a self-contained HTML report")
@click.option("--compare", is_flag=True, help="estimate and Vitis csynth side by side per layer, with their ratio")
@click.option("--save-calibration", "save_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write per-op correction factors (Vitis / estimate) from the comparison")
@click.option("--calibration", "calibration_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="apply per-op correction factors to the estimate")
def report_resources(project, csynth_path, model_path, part, clock_ns, folding_path, as_json, html_path,
                     compare, save_path, calibration_path):
    """LUT/FF/DSP/BRAM and latency per layer against the part, with a fit verdict and frame rate."""
    from ..resources.calibration import Calibration

    calibration = Calibration.load(calibration_path) if calibration_path is not None else None
    bit_rows = None
    if html_path is not None and not html_path.parent.is_dir():     # before any work is done
        raise QgenError(f"folder '{html_path.parent}' for the --html report does not exist")
    if compare or save_path is not None:
        report, bit_rows, title = _compare(project, csynth_path, model_path, part, clock_ns, folding_path,
                                           calibration)
        if save_path is not None:
            _save_calibration(report, calibration, save_path)
    elif model_path is not None:
        report, bit_rows, title = _from_model(model_path, part or "xc7z020", clock_ns, folding_path, calibration)
    elif csynth_path is not None and calibration is not None:
        raise QgenError("--calibration corrects estimates, not a csynth report; add --compare to see both")
    elif calibration is not None:
        report, bit_rows, title, _ = _project_estimate(project, calibration)
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
            from ..resources.report import load_estimate

            estimate = root / "resources_estimate.json"
            if not estimate.is_file():
                raise QgenError(_no_estimate(root, manifest, "neither a csynth.xml nor resources_estimate.json"))
            report = load_estimate(estimate)
    if html_path is not None:
        from ..resources.html import render_html
        html_path.write_text(render_html(report, title, bit_rows))
    if as_json:
        echo_json(report)
    else:
        _print(report, title)
        if report.get("compare"):
            _print_compare(report)
        if save_path is not None:
            click.echo(f"wrote {save_path}")
        if html_path is not None:
            click.echo(f"wrote {html_path}")


def _project_estimate(project, calibration=None):
    """A project's resources_estimate.json (scaled by `calibration`), its layer table and title."""
    from .hls_cmds import _only_project
    from ..hls.project import load_project
    from ..resources.calibration import calibrate_report
    from ..resources.report import load_estimate

    root, manifest = load_project(project or _only_project())
    estimate = root / "resources_estimate.json"
    if not estimate.is_file():
        raise QgenError(_no_estimate(root, manifest, "no resources_estimate.json"))
    report = load_estimate(estimate)
    if calibration is not None:
        report = calibrate_report(report, calibration, str(estimate))
    return report, manifest["layers"], f"{manifest['model']} on {manifest['part']}", root


def _no_estimate(root: Path, manifest: dict, missing: str) -> str:
    """What to do about a project without qgen's estimate: hls4ml projects never have one."""
    if manifest.get("backend") == "hls4ml":
        return (f"{root} is an hls4ml-backend project: qgen estimates resources of its own templates only. Its "
                f"figures come from Vitis: run C synthesis (vitis_hls -f build_prj.tcl), then this command reads "
                f"the csynth.xml it writes (or pass --csynth FILE); `qgen report-resources --model CKPT --part P` "
                f"estimates the template design of the same checkpoint")
    return f"{root} has {missing}; regenerate it with qgen hls"


def _compare(project, csynth_path, model_path, part, clock_ns, folding_path, calibration):
    """The estimate with `compare` rows: per layer estimate, Vitis's per-function numbers and their ratio."""
    from ..resources.calibration import compare_rows, ratio
    from ..resources.csynth import find_report, parse_project_reports

    root = project
    if model_path is not None:
        report, bit_rows, title = _from_model(model_path, part or "xc7z020", clock_ns, folding_path, calibration)
    else:
        report, bit_rows, title, root = _project_estimate(project, calibration)
    found = csynth_path if csynth_path is not None else (find_report(root) if root is not None else None)
    if found is None:
        raise QgenError("--compare needs Vitis's csynth.xml: run C synthesis on the project or pass --csynth FILE")
    top, functions = parse_project_reports(found)
    rows = compare_rows(report["layers"], [{"name": f["name"], **f["resources"]} for f in functions])
    if not any(r["csynth"] is not None for r in rows):
        raise QgenError(f"{found}: no per-layer report (<layer>_csynth.xml beside it) matches a layer of the estimate")
    keys = ("lut", "ff", "dsp", "bram_18k")
    report["compare"] = rows
    report["compare_total"] = {"estimate": {k: report["total"][k] for k in keys},
                               "csynth": {k: top["resources"][k] for k in keys},
                               "ratio": {k: ratio(report["total"][k], top["resources"][k]) for k in keys}}
    report["csynth_file"] = str(found)
    return report, bit_rows, title + f" vs {found}"


def _save_calibration(report: dict, calibration, path: Path) -> None:
    """Per-op factors Vitis / estimate; on top of an applied calibration, the two compose."""
    from ..resources.calibration import Calibration, factors_from_compare

    factors = factors_from_compare(report["compare"])
    if not factors:
        raise QgenError("no layer has both an estimate and a non-zero Vitis figure: nothing to calibrate")
    if calibration is not None:
        factors = {op: {k: round(v * calibration.factor(op, k), 4) for k, v in f.items()} for op, f in factors.items()}
        for op, f in calibration.factors.items():
            for k, v in f.items():
                factors.setdefault(op, {}).setdefault(k, v)
    Calibration(factors, source=f"{report['csynth_file']} vs qgen estimate").save(path)


def _print_compare(report: dict) -> None:
    from rich.table import Table

    def fmt(r, k):
        if r["csynth"] is None:
            return f"{r['estimate'][k]:,} / -"
        q = r["ratio"][k]
        return f"{r['estimate'][k]:,} / {r['csynth'][k]:,}" + ("" if q is None else f" ({q:.2f})")

    table = Table("layer", "op", "LUT est / Vitis (ratio)", "FF", "DSP", "BRAM_18K")
    for r in report["compare"]:
        table.add_row(r["name"], r["op"], *[fmt(r, k) for k in ("lut", "ff", "dsp", "bram_18k")])
    make_console().print(table)
    total = report["compare_total"]
    click.echo("total estimate / Vitis: " + ", ".join(
        f"{k.upper()} {total['estimate'][k]:,} / {total['csynth'][k]:,}"
        + ("" if total["ratio"][k] is None else f" ({total['ratio'][k]:.2f})") for k in ("lut", "ff", "dsp", "bram_18k")))


def _from_model(model_path, part_name, clock_ns, folding_path, calibration=None):
    from ..hls.design import build_design
    from ..hls.fifo import assign_depths
    from ..hls.project import layer_rows
    from ..parts import resolve_part
    from ..pipeline import lower
    from ..resources.estimate import estimate_report
    from ..resources.fit import choose_folding

    part = resolve_part(part_name)
    lowered = lower(model_path)
    folding, warning = choose_folding(lowered.graph, part, clock_ns, folding_path=folding_path, calibration=calibration)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    design = build_design(lowered.graph, folding)
    timing = assign_depths(design, clock_ns).to_json()      # FIFO depths and interval from the timing model
    return (estimate_report(design, part, clock_ns, timing, calibration), layer_rows(design),
            f"{lowered.name} on {part.full}")


def _from_csynth(path: Path, project: Path | None) -> dict:
    """Report from Vitis's csynth.xml: the top's totals, and per-layer rows from per-function reports."""
    from ..resources.csynth import parse_project_reports
    from ..resources.report import summarize

    top, functions = parse_project_reports(path)
    macs = None
    if project is not None and (project / "resources_estimate.json").is_file():
        from ..resources.report import load_estimate

        macs = load_estimate(project / "resources_estimate.json").get("macs_per_frame")
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
        if report.get("interval_source"):
            line += f" ({report['interval_source']})"
        if report.get("roofline_ratio"):
            line += (f"; DSP roofline {report['dsp_roofline_fps']:.1f} frames/s "
                     f"({report['macs_per_frame']:,} MACs/frame): {100 * report['roofline_ratio']:.0f} %")
        console.print(line + f"; bottleneck {report['bottleneck']}")
    else:
        console.print("frame rate unknown (interval undef in the report)")


COMMANDS = [report_resources]
