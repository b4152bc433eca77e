"""Estimate vs real: comparing an estimate with a Vitis csynth report, and per-op correction factors.

`compare_rows` pairs every estimated layer with the csynth per-function report of the same name
(kernel functions are named after their layers) and gives estimate/csynth per resource.
`factors_from_compare` turns such a comparison into one correction factor per op type and resource
(csynth total / estimate total over that op's layers); `Calibration` reads, validates and applies
such a file. The file is user input: anything but the documented format is refused with a one-line
QgenError, so a hand-edited or foreign file cannot silently scale the estimates.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import QgenError
from ..safe_io import check_number, read_json_input, write_file_atomic
from .report import PLAIN_CHARS, PLAIN_TEXT

FORMAT = "qgen-calibration"
VERSION = 1
CALIBRATED = ("lut", "ff", "dsp", "bram_18k")
FACTOR_RANGE = (0.05, 20.0)      # a correction beyond 20x means the comparison is of something else
KNOWN_OPS = ("conv", "conv_transpose", "maxpool", "upsample", "concat", "mask", "input", "split")
MAX_FILE_BYTES = 1 << 20


def ratio(estimate: float, real: float) -> float | None:
    """estimate / real; None when Vitis reports 0 (nothing to compare against)."""
    return estimate / real if real else None


def compare_rows(estimate_layers: list[dict], csynth_layers: list[dict]) -> list[dict]:
    """One row per estimated layer: its estimate, Vitis's numbers (None when the report has no such
    function) and estimate/Vitis per resource."""
    real = {r["name"]: r for r in csynth_layers}
    rows = []
    for est in estimate_layers:
        got = real.get(est["name"])
        rows.append({
            "name": est["name"], "op": est.get("op", ""),
            "estimate": {k: est.get(k, 0) for k in CALIBRATED},
            "csynth": None if got is None else {k: got.get(k, 0) for k in CALIBRATED},
            "ratio": {k: (None if got is None else ratio(est.get(k, 0), got.get(k, 0))) for k in CALIBRATED},
        })
    return rows


def factors_from_compare(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per op type and resource: Vitis total / estimate total over the layers of that op present in
    both (resources that are 0 on either side are left uncorrected)."""
    sums: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r["csynth"] is None or not r["op"]:
            continue
        entry = sums.setdefault(r["op"], {k: [0.0, 0.0] for k in CALIBRATED})
        for k in CALIBRATED:
            entry[k][0] += r["estimate"][k]
            entry[k][1] += r["csynth"][k]
    factors = {}
    lo, hi = FACTOR_RANGE
    for op, entry in sums.items():
        f = {k: min(max(real / est, lo), hi) for k, (est, real) in entry.items() if est > 0 and real > 0}
        if f:
            factors[op] = {k: round(v, 4) for k, v in f.items()}
    return factors


@dataclass
class Calibration:
    """Per-op correction factors (estimate x factor), e.g. {"conv": {"lut": 1.12, "ff": 0.8}}."""
    factors: dict[str, dict[str, float]] = field(default_factory=dict)
    source: str = ""

    def factor(self, op: str, resource: str) -> float:
        return self.factors.get(op, {}).get(resource, 1.0)

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "source": self.source, "factors": self.factors}

    def save(self, path: str | Path, force: bool = False) -> None:
        """Atomically; an existing file is only replaced with `force`."""
        write_file_atomic(path, json.dumps(self.to_json(), indent=2) + "\n", force, "calibration file")

    @classmethod
    def from_json(cls, data, where: str) -> "Calibration":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise QgenError(f"{where} is not a qgen calibration file (format must be '{FORMAT}')")
        if data.get("version") != VERSION:
            raise QgenError(f"{where}: unsupported calibration version {str(data.get('version'))[:20]!r} "
                            f"(expected {VERSION})")
        unknown = set(data) - {"format", "version", "source", "factors"}
        if unknown:
            raise QgenError(f"{where}: unknown field {sorted(map(str, unknown))[0][:40]!r}")
        factors = data.get("factors")
        if not isinstance(factors, dict):
            raise QgenError(f"{where}: 'factors' must be a map of op -> {{resource: factor}}")
        lo, hi = FACTOR_RANGE
        clean: dict[str, dict[str, float]] = {}
        for op, entry in factors.items():
            if op not in KNOWN_OPS:
                raise QgenError(f"{where}: unknown op {str(op)[:40]!r} (known: {', '.join(KNOWN_OPS)})")
            if not isinstance(entry, dict):
                raise QgenError(f"{where}: factors.{op} must be a map of resource -> factor")
            clean[op] = {}
            for resource, value in entry.items():
                if resource not in CALIBRATED:
                    raise QgenError(f"{where}: factors.{op}: unknown resource {str(resource)[:40]!r} "
                                    f"(known: {', '.join(CALIBRATED)})")
                clean[op][resource] = float(check_number(value, f"{where}: factors.{op}.{resource}", lo=lo, hi=hi))
        source = data.get("source", "")
        if not isinstance(source, str) or not PLAIN_TEXT.fullmatch(source):
            # it is copied into every estimate made with this file, whose reader allows plain text only
            raise QgenError(f"{where}: 'source' must be plain text (letters, digits, spaces, ./:_-...), "
                            "at most 300 characters")
        return cls(clean, source)

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        data = read_json_input(path, "calibration file", MAX_FILE_BYTES)
        return cls.from_json(data, f"calibration file '{path}'")


def plain_source(text: str) -> str:
    """A calibration's `source` as the plain text its readers accept (a report path may hold any
    character; it is only a label)."""
    return re.sub(f"[^{PLAIN_CHARS}]", "_", text)[:300]


def calibrate_row(row: dict, calibration: Calibration | None) -> dict:
    """A layer row (with its breakdown) scaled by its op's factors; totals stay the sum of the parts."""
    if calibration is None or row.get("op") not in calibration.factors:
        return row
    op = row["op"]
    out = dict(row)
    if isinstance(row.get("breakdown"), dict):
        parts = {name: {k: (math.ceil(v * calibration.factor(op, k)) if k in CALIBRATED else v)
                        for k, v in part.items()} for name, part in row["breakdown"].items()}
        out["breakdown"] = parts
        for k in CALIBRATED:
            out[k] = sum(p.get(k, 0) for p in parts.values())
    else:
        for k in CALIBRATED:
            out[k] = math.ceil(row.get(k, 0) * calibration.factor(op, k))
    return out


def calibrate_report(report: dict, calibration: Calibration, where: str = "the estimate") -> dict:
    """A stored estimate report with every layer scaled by `calibration`: totals, utilization and the
    fit verdict follow. An estimate that was generated with a calibration is not scaled twice."""
    if report.get("source") != "estimate":
        raise QgenError(f"--calibration corrects estimates; {where} is not one")
    if report.get("calibration"):
        raise QgenError(f"{where} was generated with a calibration already; regenerate it with "
                        "qgen hls --calibration FILE instead")
    out = dict(report)
    out["layers"] = [calibrate_row(r, calibration) for r in report["layers"]]
    total = {k: sum(r.get(k, 0) for r in out["layers"]) for k in report["total"]}
    available = report.get("available", {})
    out["total"] = total
    out["utilization_percent"] = {k: (100.0 * total[k] / available[k]) if available.get(k) else
                                  (0.0 if not total[k] else None) for k in total}
    out["fits"] = all(total[k] <= available.get(k, 0) for k in total if total[k])
    out["calibration"] = calibration.to_json()
    return out
