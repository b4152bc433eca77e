"""Reading Vitis HLS synthesis reports (csynth.xml): the real numbers after synthesis.

Layouts (hls-facts.md, 4.3/4.4): classic `<project>/solution*/syn/report/csynth.xml` with one
`<function>_csynth.xml` per synthesized function beside it; 2023.2+ unified
`<work_dir>/<component>/hls/syn/report/csynth.xml`. Vivado HLS names the DSP element `DSP48E`,
Vitis `DSP`. Latencies and intervals can be "undef" (data-dependent loops).
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import QgenError
from ..safe_io import read_input_bytes

MAX_REPORT_BYTES = 64 << 20        # a whole design's csynth.xml is a few hundred kB
RESOURCE_TAGS = {"lut": ("LUT",), "ff": ("FF",), "dsp": ("DSP", "DSP48E"), "bram_18k": ("BRAM_18K",),
                 "uram": ("URAM",)}


def find_report(project: Path) -> Path | None:
    """The newest top-level csynth.xml anywhere under the project (classic or unified layout)."""
    reports = [p for p in project.rglob("csynth.xml") if p.parent.name == "report" and p.parent.parent.name == "syn"]
    return max(reports, key=lambda p: p.stat().st_mtime) if reports else None


class _BadField(ValueError):
    pass


def _number(text: str | None) -> int | float | None:
    """A report number: None when absent or "undef"; anything else must be finite and >= 0
    (a report is input like any other: "-47" LUTs or "1e999" cycles are refused, not believed)."""
    if text is None:
        return None
    text = text.strip()
    if not text or text.lower() in ("undef", "-", "n/a"):
        return None
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise _BadField(f"'{text[:30]}' is not a number") from None
    if not math.isfinite(value) or value < 0 or value > 1e15:
        raise _BadField(f"'{text[:30]}' is not a finite, non-negative number")
    return value


def _plain(value: str | None, tag: str) -> str | None:
    """Names and versions from a report end up in tables and HTML: plain tokens only."""
    if value is None:
        return None
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.:+ ()-]{0,80}", value):
        raise _BadField(f"<{tag}> '{value[:30]}' is not a plain name")
    return value


def _resources(node) -> dict[str, int]:
    out = {}
    for key, tags in RESOURCE_TAGS.items():
        value = None
        for tag in tags:
            if node is not None and node.find(tag) is not None:
                value = _number(node.find(tag).text)
                break
        out[key] = int(value or 0)
    return out


def parse(path: str | Path) -> dict:
    """One csynth.xml -> {name, part, version, clock_ns, estimated_clock_ns, latency_best/worst,
    interval_min/max, resources, available}."""
    path = Path(path)
    try:
        root = ET.fromstring(read_input_bytes(path, "csynth report", MAX_REPORT_BYTES))
    except ET.ParseError as exc:
        raise QgenError(f"csynth report {path} is malformed or truncated ({exc})") from None
    if root.tag != "profile" or root.find("AreaEstimates") is None:
        raise QgenError(f"{path} is not a Vitis HLS csynth report (no <profile>/<AreaEstimates>)")
    user = root.find("UserAssignments")
    perf = root.find("PerformanceEstimates")
    latency = perf.find("SummaryOfOverallLatency") if perf is not None else None
    timing = perf.find("SummaryOfTimingAnalysis") if perf is not None else None
    area = root.find("AreaEstimates")

    def text(node, tag):
        return node.find(tag).text if node is not None and node.find(tag) is not None else None

    name = text(user, "TopModelName") or path.stem.replace("_csynth", "")
    try:
        return {
            "name": _plain(name, "TopModelName"),
            "file": str(path),
            "version": _plain(text(root.find("ReportVersion"), "Version"), "Version"),
            "part": _plain(text(user, "Part"), "Part"),
            "clock_ns": _number(text(user, "TargetClockPeriod")),
            "estimated_clock_ns": _number(text(timing, "EstimatedClockPeriod")),
            "latency_best": _number(text(latency, "Best-caseLatency")),
            "latency_worst": _number(text(latency, "Worst-caseLatency")),
            "interval_min": _number(text(latency, "Interval-min")),
            "interval_max": _number(text(latency, "Interval-max")),
            "resources": _resources(area.find("Resources")),
            "available": _resources(area.find("AvailableResources")),
        }
    except _BadField as exc:
        raise QgenError(f"csynth report {path}: {exc}") from None


def parse_project_reports(top_report: Path) -> tuple[dict, list[dict]]:
    """The top report and the per-function reports beside it (malformed ones are errors too)."""
    top = parse(top_report)
    functions = [parse(p) for p in sorted(top_report.parent.glob("*_csynth.xml"))]
    return top, [f for f in functions if f["name"] != top["name"]]
