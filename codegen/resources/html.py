"""A self-contained HTML page of a resource report: bitwidths, resources against the part, cycles."""
from __future__ import annotations

import base64
import html
import io

from .report import RESOURCES


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _charts(report: dict, bit_rows: list[dict] | None) -> list[tuple[str, str]]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = []
    if bit_rows:
        names = [r["name"] for r in bit_rows]
        fig, ax = plt.subplots(figsize=(10, 3.2))
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [r["weight_bits"] for r in bit_rows], 0.4, label="weights")
        ax.bar([i + 0.2 for i in x], [r["out_bits"] for r in bit_rows], 0.4, label="activations")
        ax.set_xticks(list(x), names, rotation=70, fontsize=7)
        ax.set_ylabel("learned bits")
        ax.legend()
        charts.append(("Learned bitwidth per layer", _png(fig)))
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 2.6))
    keys = [r for r in RESOURCES if report["available"].get(r)]
    used = [100.0 * report["total"][r] / report["available"][r] for r in keys]
    ax.barh(keys, used, color=["tab:red" if u > 100 else "tab:green" for u in used])
    ax.axvline(100, color="black", linewidth=1)
    ax.set_xlabel(f"% of {report['part']}")
    charts.append(("Resources against the part", _png(fig)))
    plt.close(fig)
    broken = [r for r in report["layers"] if isinstance(r.get("breakdown"), dict)]
    if broken:
        from .formulas import PARTS
        fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        names = [r["name"] for r in broken]
        for ax, key, label in ((axes[0], "lut", "LUT"), (axes[1], "ff", "FF")):
            bottom = [0] * len(broken)
            for part in PARTS:
                values = [r["breakdown"].get(part, {}).get(key, 0) for r in broken]
                if any(values):
                    ax.bar(names, values, bottom=bottom, label=part.replace("_", " "))
                    bottom = [b + v for b, v in zip(bottom, values)]
            ax.set_ylabel(label)
        axes[0].legend(fontsize=7, ncol=4)
        axes[1].tick_params(axis="x", rotation=70, labelsize=7)
        charts.append(("What each layer's LUTs and FFs are spent on (estimate breakdown)", _png(fig)))
        plt.close(fig)
    layers = [r for r in report["layers"] if r.get("cycles")]
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.bar([r["name"] for r in layers], [r["cycles"] for r in layers])
    ax.set_ylabel("cycles per frame")
    ax.tick_params(axis="x", rotation=70, labelsize=7)
    charts.append(("Cycles per layer (the tallest bar sets the frame rate)", _png(fig)))
    plt.close(fig)
    return charts


def render_html(report: dict, title: str, bit_rows: list[dict] | None = None) -> str:
    e = html.escape
    verdict = "fits" if report["fits"] else "does NOT fit"
    fps = f"{report['fps']:.1f} frames/s" if report.get("fps") else "unknown frame rate"
    roof = (f", {100 * report['roofline_ratio']:.0f} % of the DSP roofline ({report['dsp_roofline_fps']:.1f} frames/s)"
            if report.get("roofline_ratio") else "")
    head = ["layer", "op", "LUT", "FF", "DSP", "BRAM_18K", "URAM", "cycles"]
    body = "".join(
        "<tr>" + "".join(f"<td>{e(str(r.get(k, '')))}</td>" for k in ("name", "op", "lut", "ff", "dsp", "bram_18k",
                                                                     "uram", "cycles")) + "</tr>"
        for r in report["layers"])
    totals = "".join(f"<td>{report['total'][k]:,} / {report['available'][k]:,}</td>" for k in RESOURCES)
    charts = "".join(f"<h2>{e(t)}</h2><img alt='{e(t)}' src='{src}'>" for t, src in _charts(report, bit_rows))
    label = "Estimate (analytical, before synthesis)" if report["source"] == "estimate" else "Vitis HLS csynth report"
    compare = ""
    if report.get("compare"):
        def cell(r, k):
            if r["csynth"] is None:
                return f"{r['estimate'][k]:,} / –"
            q = r["ratio"][k]
            return f"{r['estimate'][k]:,} / {r['csynth'][k]:,}" + ("" if q is None else f" ({q:.2f})")
        crow = "".join(f"<tr><td>{e(r['name'])}</td><td>{e(r['op'])}</td>"
                       + "".join(f"<td>{cell(r, k)}</td>" for k in ("lut", "ff", "dsp", "bram_18k")) + "</tr>"
                       for r in report["compare"])
        compare = (f"<h2>Estimate / Vitis csynth (ratio) — {e(str(report.get('csynth_file', '')))}</h2><table><tr>"
                   "<th>layer</th><th>op</th><th>LUT</th><th>FF</th><th>DSP</th><th>BRAM_18K</th></tr>"
                   f"{crow}</table>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} .verdict{{font-size:1.3em}}</style></head>
<body><h1>{e(title)}</h1>
<p class="verdict"><b>{e(verdict)}</b> on {e(report['part'])} at {report['clock_ns']} ns: {e(fps)}{e(roof)}.</p>
<p>Source: {e(label)}. Bottleneck layer: {e(str(report.get('bottleneck')))}.</p>
<table><tr><th>total / available</th>{''.join(f'<th>{k.upper()}</th>' for k in RESOURCES)}</tr><tr><td></td>{totals}</tr></table>
{charts}
<h2>Per layer</h2><table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{body}</table>
{compare}
</body></html>
"""
