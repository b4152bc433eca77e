"""`qgen report-resources`: real csynth numbers when Vitis has run, analytical estimates otherwise."""
from __future__ import annotations

from pathlib import Path

import click

from ..console import console as make_console, echo_json
from ..errors import QgenError
from ..terminal import one_line
from .params import CLOCK_NS, POSITIVE, FiniteFloat

DEFAULT_PART = "xc7z020"


@click.command("report-resources")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path), default=None, required=False)
@click.option("--csynth", "csynth_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="read this csynth.xml instead of searching the project")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="estimate straight from a checkpoint (no project needed)")
@click.option("--part", default=None, help="with --model: the part (default xc7z020)")
@click.option("--parts", "part_list", default=None, metavar="all|P1,P2,...",
              help="with --model: which of these parts run the model (at --target-fps), and at what "
                   "cost, smallest first")
@click.option("--clock-ns", default=10.0, show_default=True, type=CLOCK_NS, help="with --model: the clock")
@click.option("--folding", "folding_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="with --model: a folding JSON (default: fit the part)")
@click.option("--target-fps", type=POSITIVE, default=None,
              help="with --model: the least resources reaching this frame rate (as qgen hls --target-fps)")
@click.option("--max-utilization", type=FiniteFloat(0.05, 1.0), default=None,
              help="with --model: fraction of each resource the folding may use  [default: 0.8]")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write a self-contained HTML report")
@click.option("--compare", is_flag=True, help="estimate and Vitis csynth side by side per layer, with their ratio")
@click.option("--save-calibration", "save_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write per-op correction factors (Vitis / estimate) from the comparison")
@click.option("--calibration", "calibration_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="apply per-op correction factors to the estimate")
@click.option("--force", is_flag=True, help="overwrite an existing --save-calibration or --html file")
def report_resources(project, csynth_path, model_path, part, part_list, clock_ns, folding_path, target_fps,
                     max_utilization, as_json, html_path, compare, save_path, calibration_path, force):
    """LUT/FF/DSP/BRAM and latency per layer against the part, with a fit verdict and frame rate.

    With --parts: which parts run the model (at --target-fps), and at what cost, smallest first."""
    from ..resources.calibration import Calibration
    from ..resources.fit import DEFAULT_HEADROOM
    from ..safe_io import check_new_file, write_file_atomic

    _check_model_options(model_path, part, part_list, folding_path, target_fps, max_utilization, compare,
                         save_path, html_path)
    headroom = DEFAULT_HEADROOM if max_utilization is None else max_utilization
    fitting = {"target_fps": target_fps, "headroom": headroom}
    calibration = Calibration.load(calibration_path) if calibration_path is not None else None
    if part_list is not None:
        _part_table(model_path, part_list, clock_ns, target_fps, headroom, calibration, as_json)
        return
    bit_rows = None
    for path, what in ((html_path, "--html report"), (save_path, "calibration file")):
        if path is not None:          # before any work is done
            check_new_file(path, force, what)
    if compare or save_path is not None:
        report, bit_rows, title = _compare(project, csynth_path, model_path, part, clock_ns, folding_path,
                                           calibration, fitting)
        if save_path is not None:
            _save_calibration(report, calibration, save_path, force)
    elif model_path is not None:
        report, bit_rows, title = _from_model(model_path, part or DEFAULT_PART, clock_ns, folding_path,
                                              calibration, **fitting)
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
        write_file_atomic(html_path, render_html(report, title, bit_rows), force, "--html report")
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


def _check_model_options(model_path, part, part_list, folding_path, target_fps, max_utilization, compare,
                         save_path, html_path) -> None:
    """Options that only make sense together, checked before any file is read or torch imported."""
    model_only = [name for name, value in (("--parts", part_list), ("--target-fps", target_fps),
                                           ("--max-utilization", max_utilization)) if value is not None]
    if model_only and model_path is None:
        verb = "needs" if len(model_only) == 1 else "need"
        raise QgenError(f"{' and '.join(model_only)} {verb} --model (a checkpoint to fit to the parts)")
    if target_fps is not None and folding_path is not None:
        raise QgenError("use only one of --folding and --target-fps")
    if part_list is None:
        return
    if part is not None:
        raise QgenError("use --part for one part or --parts for a table of parts, not both")
    if folding_path is not None:
        raise QgenError("--parts fits a folding to each part; --folding fixes one (use it with --part)")
    if compare or save_path is not None or html_path is not None:
        raise QgenError("--compare, --save-calibration and --html report one design: use --part, not --parts")


def _part_table(model_path, part_list, clock_ns, target_fps, headroom, calibration, as_json) -> None:
    """`--parts`: the fitter's answer on every part, smallest first, and the smallest that fits."""
    from ..parts import resolve_parts

    parts = resolve_parts(part_list)        # before torch is imported (seconds)

    from ..pipeline import lower
    from ..resources.part_table import part_table

    lowered = lower(model_path)
    table = {"model": lowered.name,
             **part_table(lowered.graph, parts, clock_ns, target_fps, headroom, calibration)}
    if as_json:
        echo_json(table)
    else:
        _print_part_table(table)


def _print_part_table(table: dict) -> None:
    from rich.table import Table

    console = make_console()
    budget = f"{100 * table['max_utilization']:g} %"
    fps = table["target_fps"]
    goal = (f"reach {fps:g} frames/s within {budget} of each resource, at the least resources" if fps is not None
            else f"fit within {budget} of each resource, each at its fastest folding")
    console.print(f"[bold]{table['model']}[/bold]: which parts {goal} (estimates at {table['clock_ns']:g} ns, "
                  "smallest part first)")

    def cell(row, r):
        pct = row["utilization_percent"][r]
        return f"{row['used'][r]:,}/{row['available'][r]:,}" + ("" if pct is None else f" {pct:.0f}%")

    grid = Table("part", "fits", "LUT", "FF", "DSP", "BRAM_18K", "frames/s", "board")
    for row in table["parts"]:
        verdict = "[green]yes[/green]" if row["fits"] else "[red]no[/red]: " + ", ".join(row["over_budget"])
        grid.add_row(row["part"], verdict, *[cell(row, r) for r in ("lut", "ff", "dsp", "bram_18k")],
                     f"{row['fps']:.1f}", row["board"])
    console.print(grid)
    console.print(f"frames/s: {table['fps_source']}; resources: {table['resource_source']}")
    what = f"reaching {fps:g} frames/s" if fps is not None else "that fits"
    smallest = next((row for row in table["parts"] if row["part"] == table["smallest_fitting"]), None)
    if smallest is None:
        console.print(f"no listed part {what} within {budget} of each resource")
    else:
        console.print(f"smallest part {what}: [bold]{smallest['part']}[/bold] ({smallest['full']}, "
                      f"{smallest['board']}) at {smallest['fps']:.1f} frames/s")


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


def _compare(project, csynth_path, model_path, part, clock_ns, folding_path, calibration, fitting):
    """The estimate with `compare` rows: per layer estimate, Vitis's per-function numbers and their ratio."""
    from ..resources.calibration import compare_rows, ratio
    from ..resources.csynth import find_report, parse_project_reports

    root = project
    if model_path is not None:
        report, bit_rows, title = _from_model(model_path, part or DEFAULT_PART, clock_ns, folding_path,
                                              calibration, **fitting)
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


def _save_calibration(report: dict, calibration, path: Path, force: bool) -> None:
    """Per-op factors Vitis / estimate; on top of an applied calibration, the two compose."""
    from ..resources.calibration import Calibration, factors_from_compare, plain_source

    factors = factors_from_compare(report["compare"])
    if not factors:
        raise QgenError("no layer has both an estimate and a non-zero Vitis figure: nothing to calibrate")
    if calibration is not None:
        factors = {op: {k: round(v * calibration.factor(op, k), 4) for k, v in f.items()} for op, f in factors.items()}
        for op, f in calibration.factors.items():
            for k, v in f.items():
                factors.setdefault(op, {}).setdefault(k, v)
    Calibration(factors, source=plain_source(f"{report['csynth_file']} vs qgen estimate")).save(path, force)


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


def _from_model(model_path, part_name, clock_ns, folding_path, calibration, *, target_fps, headroom):
    """The report `qgen hls` would write for the checkpoint: the folding from the file, the least
    resources reaching `target_fps`, or by default the fastest folding within `headroom`."""
    from ..hls.folding import Folding
    from ..parts import resolve_part

    part = resolve_part(part_name)          # options and files first: torch takes seconds to import
    folding_file = Folding.load(folding_path) if folding_path is not None else None

    from ..hls.design import build_design
    from ..hls.fifo import assign_depths
    from ..hls.project import layer_rows
    from ..pipeline import lower
    from ..resources.estimate import estimate_report
    from ..resources.fit import choose_folding

    lowered = lower(model_path)
    folding, warning = choose_folding(lowered.graph, part, clock_ns, folding=folding_file, target_fps=target_fps,
                                      headroom=headroom, calibration=calibration)
    if warning:
        click.echo(f"Warning: {one_line(warning)}", err=True)
    design = build_design(lowered.graph, folding)
    timing = assign_depths(design, clock_ns, target_fps=target_fps).to_json()   # FIFO depths, interval: timing model
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
