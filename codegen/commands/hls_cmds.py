"""`qgen hls`, `qgen csim` and `qgen templates export`: the hardware side."""
from __future__ import annotations

import shutil
from pathlib import Path

import click

from ..confine import check_links_stay_inside, confined_path
from ..console import console as make_console, echo_json
from ..errors import QgenError
from ..terminal import one_line
from .params import CLOCK_NS, POSITIVE, FiniteFloat, fifo_depths

PROJECTS_DIR = Path("projects")


@click.command()
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="qgen checkpoint (.pt)")
@click.option("--part", default="xc7z020", show_default=True, help="short name (xc7z020) or full part string")
@click.option("--backend", type=click.Choice(["templates", "hls4ml"]), default="templates", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="project folder (default: projects/<model name>)")
@click.option("--clock-ns", default=10.0, show_default=True, type=CLOCK_NS)
@click.option("--images", "n_images", default=2, show_default=True, type=click.IntRange(1, 64),
              help="validation images to write golden vectors for")
@click.option("--folding", "folding_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="per-layer PE/SIMD/mult JSON (as written into a project's folding.json)")
@click.option("--fit", is_flag=True, help="maximise throughput within the part; fail if nothing fits "
              "(the default does the same but falls back to a fully folded design)")
@click.option("--target-fps", type=POSITIVE, default=None,
              help="the least resources reaching this frame rate")
@click.option("--max-utilization", default=0.8, show_default=True, type=FiniteFloat(0.05, 1.0),
              help="fraction of each resource the folding may use")
@click.option("--templates", "templates_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="use an edited copy of the templates (see `qgen templates export`)")
@click.option("--calibration", "calibration_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="per-op correction factors for the estimate (report-resources --save-calibration)")
@click.option("--skip-reference-check", is_flag=True,
              help="experts: write the project even if the integer reference disagrees with Brevitas "
                   "on the golden images (checked by default)")
@click.option("--no-fuse", "no_fuse", is_flag=True,
              help="one kernel per layer (max-pools, concatenations and split kernels of their own), "
                   "as a reference for the fused design")
@click.option("--allow-hazards", is_flag=True,
              help="write the project even if the static hazard check finds memory-port, stream or "
                   "DEPENDENCE hazards in the kernels (they become warnings)")
@click.option("--force", is_flag=True, help="overwrite an existing project folder")
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary")
def hls(model_path, part, backend, out_dir, clock_ns, n_images, folding_path, fit, target_fps, max_utilization,
        templates_dir, calibration_path, skip_reference_check, no_fuse, allow_hazards, force, as_json):
    """Turn a checkpoint into a Vitis HLS project sized to its learned bitwidths."""
    from ..parts import resolve_part
    from ..project_io import check_target

    # every option and input file is checked before torch is imported (seconds) or any work done
    if sum([folding_path is not None, fit, target_fps is not None]) > 1:
        raise QgenError("use only one of --folding, --fit and --target-fps")
    target = resolve_part(part)
    templates, tcl = _template_dirs(templates_dir)
    calibration = _load_calibration(calibration_path)
    folding_file = _load_folding(folding_path)
    if out_dir is not None:
        check_target(out_dir, force)

    from ..hls.project import HlsRequest
    from ..lowered_cache import prepare
    from ..resources.fit_cache import choose_folding_cached

    # the lowered graph and golden images, checked against Brevitas (cached: no torch on a hit)
    lowered = prepare(model_path, n_images, check_reference=not skip_reference_check)
    if out_dir is None:   # the name is a checked C identifier, so this stays inside projects/
        out_dir = PROJECTS_DIR / lowered.name
        check_target(out_dir, force)
    if folding_file is not None:
        folding, warning = folding_file, None
    else:
        folding, warning = choose_folding_cached(lowered.graph, target, clock_ns, fit=fit, target_fps=target_fps,
                                                 headroom=max_utilization, calibration=calibration)
    request = HlsRequest(target, clock_ns, n_images, backend, calibration, allow_hazards, not no_fuse, target_fps)
    summary = _generator(backend)(lowered, request, out_dir, folding, force=force, templates_dir=templates,
                                  tcl_dir=tcl, images=lowered.images, image_ids=lowered.image_ids)
    summary = {"project": str(out_dir), **summary}
    if warning:
        summary["warning"] = warning
        click.echo(f"Warning: {one_line(warning)}", err=True)
    for hazard in summary.get("hazards", []):
        click.echo(f"Warning: hazard allowed by --allow-hazards: {one_line(hazard)}", err=True)
    if as_json:
        echo_json(summary)
        return
    _print_summary(summary)


def _load_calibration(path):
    if path is None:
        return None
    from ..resources.calibration import Calibration
    return Calibration.load(path)


def _load_folding(path):
    if path is None:
        return None
    from ..hls.folding import Folding
    return Folding.load(path)


def _generator(backend: str):
    """The project writer of a backend (both take the same arguments)."""
    if backend == "hls4ml":
        from ..hls4ml_backend.project import generate
    else:
        from ..hls.project import generate
    return generate


def _template_dirs(templates_dir):
    """--templates DIR holds an exported copy: kernels in DIR, TCL in DIR/tcl."""
    if templates_dir is None:
        return None, None
    if not templates_dir.is_dir():
        raise QgenError(f"template folder '{templates_dir}' does not exist")
    check_links_stay_inside(templates_dir, "template folder")    # no link may pull in a file from elsewhere
    tcl = templates_dir / "tcl"
    return templates_dir, tcl if tcl.is_dir() else None


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    console = make_console()
    console.print(f"[bold]{summary['project']}[/bold]: {summary['model']} for {summary['part']} at "
                  f"{summary['clock_ns']} ns ({summary['backend']} backend)")
    table = Table("layer", "op", "w bits", "in bits", "out bits", "acc bits", "PE", "SIMD", "cycles")
    for r in summary["layers"]:
        op = f"{r['op']} (in {r['runs_in']})" if "runs_in" in r else r["op"]
        table.add_row(r["name"], op, str(r["weight_bits"]), str(r["in_bits"]), str(r["out_bits"]),
                      str(r["acc_bits"]), str(r.get("pe", "-")), str(r.get("simd", "-")),
                      f"{r['cycles']:,}" if "cycles" in r else "-")
    console.print(table)
    for f in summary["fifos"]:
        console.print(f"FIFO {f['name']}: depth {f['depth']:,} ({f['comment'] or 'buffering'})")
    if "estimate" not in summary:
        console.print(f"hls4ml project: build with vitis_hls -f build_prj.tcl; check with qgen csim {summary['project']}")
        return
    est = summary["estimate"]
    use = ", ".join(f"{k.upper()} {est['total'][k]:,}/{est['available'][k]:,}" for k in ("lut", "ff", "dsp", "bram_18k"))
    console.print(f"estimate: {use} -> {'fits' if est['fits'] else 'DOES NOT FIT'}; interval "
                  f"{summary['interval_cycles']:,} cycles = {est['fps']:.1f} frames/s at {summary['clock_ns']} ns "
                  f"({100 * est['roofline_ratio']:.0f} % of the DSP roofline)")
    console.print(f"golden vectors for {summary['images']} images in tb_data/; details: qgen report-resources {summary['project']}")


@click.command()
@click.argument("project", type=click.Path(file_okay=False, path_type=Path), default=None, required=False)
@click.option("--tool", type=click.Choice(["gxx", "vitis"]), default="gxx", show_default=True,
              help="gxx: g++ against hls4ml's ap_types (no Xilinx install); vitis: the project's build_prj.tcl")
@click.option("--threaded", is_flag=True,
              help="run every kernel in its own thread with bounded FIFOs of the declared depths: "
                   "bit-exact and deadlock-free on the code itself (exit 1 on a deadlock)")
@click.option("--fifo-depth", "overrides", multiple=True, callback=fifo_depths, metavar="NAME=DEPTH",
              help="with --threaded: override one FIFO's depth (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def csim(project, tool, threaded, overrides, as_json):
    """C-simulate a generated project and compare every layer bit-exactly with the goldens."""
    if overrides and not threaded:
        raise QgenError("--fifo-depth needs --threaded (plain C-simulation has unbounded streams)")
    if threaded and tool != "gxx":
        raise QgenError("--threaded runs with g++ (--tool gxx)")
    try:
        project = project or _only_project()
        if threaded:
            from ..threaded import run_threaded
            report = run_threaded(project, overrides)
        else:
            from ..csim import run_gxx, run_vitis
            report = run_gxx(project) if tool == "gxx" else run_vitis(project)
    except QgenError as exc:
        if as_json:     # scripts read stdout: a failure is a verdict too (the one-line error goes to stderr)
            echo_json({"passed": False, "error": " ".join(str(exc).split()), "tool": tool})
        raise
    if as_json:
        echo_json(report)
    else:
        _print_csim(project, report)
    if not report["passed"]:
        raise SystemExit(1)


def _only_project() -> Path:
    candidates = [p for p in PROJECTS_DIR.glob("*") if (p / "qgen_project.json").is_file()] \
        if PROJECTS_DIR.is_dir() else []
    if len(candidates) != 1:
        raise QgenError("name the project folder (e.g. qgen csim projects/<model>)" if candidates else
                        "no project given and none found in projects/; run `qgen hls` first")
    return candidates[0]


def _print_csim(project, report: dict) -> None:
    from rich.table import Table

    console = make_console()
    table = Table("check", "elements", "mismatches", "first mismatch (index: expected / got)")
    for r in report["layers"]:
        first = r["first_mismatch"]
        table.add_row(r["name"], f"{r['elements']:,}", str(r["mismatches"]),
                      "-" if first is None else f"{first['index']}: {first['expected']} / {first['got']}")
    console.print(table)
    timing = f"compile {report['compile_seconds']} s, " if "compile_seconds" in report else ""
    if report.get("deadlock"):
        waits = "; ".join(f"{b['kernel']} waits on {b['fifo']} ({b['state']})" for b in report["blocked"])
        console.print(f"{project}: [red]DEADLOCK[/red] with bounded FIFOs ({report['tool']}; {timing}run "
                      f"{report['run_seconds']} s): {waits}")
        return
    verdict = "[green]PASSED[/green] bit-exact" if report["passed"] else f"[red]FAILED[/red] {report['mismatches']} mismatches"
    console.print(f"{project}: {verdict} on {report['images']} images ({report['tool']}; {timing}run {report['run_seconds']} s)")


@click.group()
def templates():
    """The Jinja2 C++/TCL templates the template backend renders."""


@templates.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite an existing folder")
def templates_export(directory, force):
    """Copy the shipped templates to DIRECTORY for editing; use them with `qgen hls --templates DIRECTORY`."""
    from ..hls.render import TCL_DIR, TEMPLATES_DIR
    from ..project_io import atomic_directory

    with atomic_directory(directory, force=force) as tmp:
        _copy_templates(TEMPLATES_DIR, tmp)
        _copy_templates(TCL_DIR, tmp / "tcl")
    click.echo(f"copied templates to {directory}; edit them, then: qgen hls --model CKPT --templates {directory}")


def _copy_templates(source: Path, dest: Path) -> None:
    """Copy a template folder as new files: with the umask's permissions (copytree would copy the
    source's modes), and only files that resolve inside `source`."""
    dest.mkdir(exist_ok=True)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if "__pycache__" in rel.parts:
            continue
        real = confined_path(source, rel, "template")
        if real.is_dir():
            (dest / rel).mkdir(parents=True, exist_ok=True)
        elif real.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(real, dest / rel)


COMMANDS = [hls, csim, templates]
