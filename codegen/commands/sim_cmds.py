"""`qgen simulate`: the cycle-level dataflow model of a generated project (FIFOs bounded, frames back to back)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from ..console import console as make_console, echo_json
from ..errors import QgenError
from .params import fifo_depths

PROGRESS_AFTER_S = 2.0


@click.command("simulate")
@click.argument("project", type=click.Path(file_okay=False, path_type=Path), default=None, required=False)
@click.option("--frames", default=2, show_default=True, type=click.IntRange(2, 100),
              help="frames run back to back")
@click.option("--style", type=click.Choice(["flush", "stall"]), default="flush", show_default=True,
              help="pipeline style: flush (the templates' style=flp) or Vitis's default stall pipeline")
@click.option("--fifo-depth", "overrides", multiple=True, callback=fifo_depths, metavar="NAME=DEPTH",
              help="override one FIFO's depth (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def simulate(project, frames, style, overrides, as_json):
    """Cycle-level model of the dataflow design: deadlocks, FIFO occupancy, stalls, frame interval.

    Exit status 1 when the design deadlocks. Models qgen's own templates only: after editing a
    template, run Vitis cosim (build_prj.tcl cosim=1).
    """
    from ..hls.project import SCHEDULE_FILE, load_project
    from ..timing.budget import check_budget
    from ..timing.schedule import load_schedule
    from ..timing.simulate import simulate as run_model
    from ..timing.sizing import analytic_interval

    if project is None:
        from .hls_cmds import _only_project
        project = _only_project()
    root, manifest = load_project(project)
    if manifest["backend"] == "hls4ml":
        raise QgenError(f"{root} is an hls4ml-backend project: qgen simulate models qgen's own template kernels "
                        f"only. `qgen csim {root}` checks it bit-exactly; its latency and interval come from "
                        "Vitis (vitis_hls -f build_prj.tcl: csynth, and cosim for FIFO behaviour)")
    model = load_schedule(root / SCHEDULE_FILE)
    unknown = sorted(set(overrides) - set(model.depths))
    if unknown:
        raise QgenError(f"--fifo-depth: no FIFO named {unknown[0]!r}; the FIFOs are {', '.join(sorted(model.depths))}")
    check_budget(model, frames)     # before the run: a large design could take all memory

    with _Progress(disabled=as_json) as progress:
        result = run_model(model, frames=frames, style=style, depths=overrides, progress=progress)
    report = result.to_json()
    if as_json:
        echo_json(report)
    else:
        _print(report, style, analytic_interval(model), model.clock_ns)
    if result.deadlock:
        raise SystemExit(1)


class _Progress:
    """A rich progress bar that appears only once the run has taken PROGRESS_AFTER_S seconds."""

    def __init__(self, disabled: bool):
        self.disabled, self.start, self.bar, self.task = disabled, time.monotonic(), None, None

    def __enter__(self):
        return self

    def __call__(self, fraction: float) -> None:
        if self.disabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < PROGRESS_AFTER_S or fraction >= 1.0:
                return
            from rich.progress import BarColumn, Progress, TimeElapsedColumn
            self.bar = Progress("simulating", BarColumn(), "{task.percentage:>3.0f}%", TimeElapsedColumn(),
                                console=make_console(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("", total=1.0)
        self.bar.update(self.task, completed=fraction)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _print(report: dict, style: str, slowest: int, clock_ns: float) -> None:
    from rich.table import Table

    console = make_console()
    fifos = Table("FIFO", "depth", "peak", title="FIFOs (depth > 2 or full)")
    blocked_fifos = {b["fifo"] for b in report["blocked"]}
    for f in report["fifos"]:
        if f["depth"] > 2 or f["name"] in blocked_fifos:
            mark = " (full)" if f["peak"] >= f["depth"] else ""
            fifos.add_row(f["name"], f"{f['depth']:,}", f"{f['peak']:,}{mark}")
    console.print(fifos)
    kernels = Table("kernel", "busy cycles", "stall cycles", "stalled", title="kernels")
    for k in report["kernels"]:
        total = k["busy_cycles"] + k["stall_cycles"]
        kernels.add_row(k["name"], f"{k['busy_cycles']:,}", f"{k['stall_cycles']:,}",
                        f"{100 * k['stall_cycles'] / total:.1f} %" if total else "-")
    console.print(kernels)
    if report["deadlock"] or report["interval_cycles"] is None:
        full = [b for b in report["blocked"] if b["state"] == "full"]
        starved = len(report["blocked"]) - len(full)
        waits = "; ".join(f"{b['kernel']} cannot write {b['fifo']} (full)" for b in full) or "no FIFO is full"
        if report["deadlock"]:
            console.print(f"[bold red]DEADLOCK[/] ({style} pipelines, {report['frames']} frames): {waits}; "
                          f"{starved} more kernel(s) wait on empty FIFOs (--json lists all)")
        else:
            console.print(f"completed {report['frames']} frames ({style} pipelines); no output stream to time")
    else:
        console.print(f"[bold green]completed[/] {report['frames']} frames ({style} pipelines): interval "
                      f"{report['interval_cycles']:,} cycles = {report['fps']:.1f} frames/s at {clock_ns} ns "
                      f"(slowest kernel alone: {slowest:,} cycles, "
                      f"{100 * (report['interval_cycles'] / slowest - 1):+.1f} %)")


COMMANDS = [simulate]
