"""Bad input, across every command: a table of cases, each checked the same way.

For every case: the exit code; exactly one `Error:` line on stderr, no traceback and no terminal
control characters; and nothing written, changed or lost in the working folder (every input file,
folder and symbolic link is fingerprinted before and after; files that a link leads to are kept in
the working folder, so a write through a link shows up too). The hostile-checkpoint cases (code in
the name, path escapes, TCL substitution) run the generated project through csim and must never
create their marker file.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch
from click.testing import CliRunner

FIXTURES = Path(__file__).parent / "fixtures"
CSYNTH = FIXTURES / "csynth" / "classic" / "quantunet_prj" / "solution1" / "syn" / "report" / "csynth.xml"


# ---- building blocks ---------------------------------------------------------------------------

def _raw(tiny_checkpoint) -> dict:
    return torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)


def _write_ckpt(path: Path, raw: dict) -> Path:
    torch.save(raw, path)
    return path


def ckpt_with(change: Callable[[dict], None]):
    """A setup step: a copy of the tiny checkpoint with `change` applied to its raw dict."""
    def setup(ws: "Workspace") -> str:
        raw = _raw(ws.tiny)
        change(raw)
        return str(_write_ckpt(ws.root / "bad.pt", raw))
    return setup


def _set(path: str, value):
    def change(raw):
        node = raw
        keys = path.split("/")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return change


def _tensor(key: str, fill):
    def change(raw):
        t = raw["state_dict"][key].clone()
        t.view(-1)[0] = fill
        raw["state_dict"][key] = t
    return change


def _drop(key: str):
    return lambda raw: raw["state_dict"].pop(key)


def _reshape(key: str):
    return lambda raw: raw["state_dict"].__setitem__(key, torch.zeros(3, 3))


@dataclass
class Workspace:
    root: Path
    tiny: Path
    project: Path        # a generated tiny project (copied into root when a case needs it)


@dataclass
class Case:
    args: Callable[[Workspace], list[str]]
    message: str = ""                   # a substring the Error line must contain
    exit_code: int = 2
    env: dict = field(default_factory=dict)


def model_args(command: str, setup, *extra: str):
    return lambda ws: [command, "--model", setup(ws), *extra]


def hls_args(setup, *extra: str):
    return lambda ws: ["hls", "--model", setup(ws), "--out", str(ws.root / "out"), *extra]


def tiny(ws: Workspace) -> str:
    return str(ws.tiny)


def text_file(name: str, content: bytes | str):
    def setup(ws: Workspace) -> str:
        path = ws.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)
    return setup


def project_copy(edit: Callable[[Path], None] | None = None):
    def setup(ws: Workspace) -> str:
        target = ws.root / "prj"
        shutil.copytree(ws.project, target)
        if edit:
            edit(target)
        return str(target)
    return setup


def json_edit(filename: str, change: Callable[[dict], None]):
    """A project edit: load one of its JSON files, change it, write it back."""
    def edit(root: Path) -> None:
        path = root / filename
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return edit


def manifest_edit(change: Callable[[dict], None]):
    return json_edit("qgen_project.json", change)


def _estimate_edit(change: Callable[[dict], None]):
    return json_edit("resources_estimate.json", change)


def csynth_with(old: str, new: str):
    return text_file("syn/report/csynth.xml", CSYNTH.read_text().replace(old, new))


def non_empty_dir(name: str):
    def setup(ws: Workspace) -> str:
        folder = ws.root / name
        (folder / "sub").mkdir(parents=True)
        (folder / "keep.txt").write_text("mine")
        (folder / "sub" / "also.txt").write_text("mine too")
        return str(folder)
    return setup


def templates_including(target: str):
    def setup(ws: Workspace) -> str:
        from codegen.hls.render import TCL_DIR, TEMPLATES_DIR
        folder = ws.root / "tpl"
        shutil.copytree(TEMPLATES_DIR, folder)
        shutil.copytree(TCL_DIR, folder / "tcl")
        conv = folder / "kernels" / "output.cpp.j2"
        conv.write_text(conv.read_text() + f'\n{{% include "{target}" %}}\n')
        return str(folder)
    return setup


def templates_with_recursion(ws: Workspace) -> str:
    from codegen.hls.render import TCL_DIR, TEMPLATES_DIR
    folder = ws.root / "tpl"
    shutil.copytree(TEMPLATES_DIR, folder)
    shutil.copytree(TCL_DIR, folder / "tcl")
    split = folder / "kernels" / "output.cpp.j2"
    split.write_text(split.read_text() + "\nstatic int qgen_fact(int n)\n{\n  return n ? n * qgen_fact(n - 1) : 1;\n}\n")
    return str(folder)


def _complex(key: str):
    def change(raw):
        raw["state_dict"][key] = raw["state_dict"][key].to(torch.complex64)
    return change


HUGE = "1" + "0" * 400          # a JSON integer of 401 digits


def replace_number(filename: str, key: str):
    """A project edit: the number at `"key": ...` in a JSON file becomes HUGE (json.dumps cannot write it)."""
    def edit(root: Path) -> None:
        path = root / filename
        text, count = re.subn(rf'("{key}": )[-0-9.eE+]+', rf"\g<1>{HUGE}", path.read_text(), count=1)
        assert count == 1
        path.write_text(text)
    return edit


def fifo(name: str):
    """A setup step: a named pipe (reading it would wait for a writer forever)."""
    def setup(ws: Workspace) -> str:
        os.mkfifo(ws.root / name)
        return str(ws.root / name)
    return setup


def link_outside(rel: str, target: str = "elsewhere/file.cpp"):
    """A project edit: `rel` in the project becomes a symbolic link to a file or folder next to it."""
    def edit(root: Path) -> None:
        outside = root.parent / target
        outside.parent.mkdir(parents=True, exist_ok=True)
        if target.endswith("/"):
            outside.mkdir(exist_ok=True)
        else:
            outside.write_text("int main() { return 0; }\n")
        path = root / rel
        if path.is_dir():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)
        path.symlink_to(outside)
    return edit


def templates_with_link(ws: Workspace) -> str:
    from codegen.hls.render import TCL_DIR, TEMPLATES_DIR
    folder = ws.root / "tpl"
    shutil.copytree(TEMPLATES_DIR, folder)
    shutil.copytree(TCL_DIR, folder / "tcl")
    (ws.root / "secret.txt").write_text("not for generated code\n")
    (folder / "kernels" / "output.cpp.j2").unlink()
    (folder / "kernels" / "output.cpp.j2").symlink_to(ws.root / "secret.txt")
    return str(folder)


def symlinked_folder(ws: Workspace) -> str:
    real = Path(non_empty_dir("real")(ws))
    (ws.root / "link").symlink_to(real)
    return str(ws.root / "link")


def existing(name: str, content: str = "keep me\n"):
    return text_file(name, content)


def calibration_file(source: str = "test", factor: str = "1.1") -> Callable[[Workspace], str]:
    return text_file("cal.json", '{"format": "qgen-calibration", "version": 1, "source": %s, '
                                 '"factors": {"conv": {"lut": %s}}}' % (json.dumps(source), factor))


def huge_png(ws: Workspace) -> str:
    """An images/ + masks/ folder whose PNGs claim 20000 x 20000 pixels in a few bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (20000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0]))
           + chunk(b"IDAT", zlib.compress(b"\0" * 20001)) + chunk(b"IEND", b""))
    root = ws.root / "data"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for i in range(4):
            (root / sub / f"s{i}.png").write_bytes(png)
    return str(root)


def big_schedule(root: Path) -> None:
    """A schedule.json within its validator's limits (4 M transfers a frame) that 100 frames of the
    cycle model could not hold in memory (about 23 GB)."""
    n = 1_000_000
    kernel = {"ii": 1, "depth": 1, "iterations": n, "reads": [[[0, 1, n]]], "writes": [[[0, 1, n]]]}
    (root / "schedule.json").write_text(json.dumps({
        "format": "qgen-schedule", "version": 1, "clock_ns": 10.0, "streams": [{"name": "s", "depth": 2}],
        "external": ["in", "out"],
        "kernels": [{"name": "a", "inputs": ["in"], "outputs": ["s"], **kernel},
                    {"name": "b", "inputs": ["s"], "outputs": ["out"], **kernel}]}))


def simulate_args(*extra: str):
    return lambda ws: ["simulate", project_copy()(ws), *extra]


CASES: dict[str, Case] = {
    # -- checkpoints: structure -------------------------------------------------------------------
    "missing checkpoint": Case(model_args("hls", lambda ws: str(ws.root / "nope.pt")), "does not exist"),
    "text file as checkpoint": Case(model_args("inspect", text_file("x.pt", "hello")), "not a qgen checkpoint"),
    "format_version is a string": Case(model_args("eval", ckpt_with(_set("format_version", "1"))), "format_version"),
    "format_version from the future": Case(model_args("hls", ckpt_with(_set("format_version", 99))), "upgrade qgen"),
    "state_dict is not a map": Case(model_args("hls", ckpt_with(_set("state_dict", [1, 2]))), "state_dict"),
    "state_dict entry not a tensor": Case(model_args("inspect", ckpt_with(_set("state_dict/head.bias", 3.0))),
                                          "head.bias"),
    "missing tensor is named": Case(model_args("eval", ckpt_with(_drop("head.weight"))), "head.weight"),
    "wrong tensor shape is named": Case(model_args("hls", ckpt_with(_reshape("head.weight"))), "head.weight"),
    "config is not a map": Case(model_args("hls", ckpt_with(_set("config", "tiny"))), "model config"),
    "config size is a float": Case(model_args("hls", ckpt_with(_set("config/input_size", 32.0))), "input_size"),
    "config width is huge": Case(model_args("inspect", ckpt_with(_set("config/base_width", 10 ** 9))), "base_width"),
    "config unknown key": Case(model_args("eval", ckpt_with(_set("config/evil", 1))), "unknown model config"),
    "name is not a string": Case(model_args("hls", ckpt_with(_set("name", 5))), "name must be a string"),
    "data count negative": Case(model_args("hls", ckpt_with(_set("data/n_val", -1))), "n_val"),
    "data spec not a string": Case(model_args("eval", ckpt_with(_set("data/spec", ["/etc"]))), "spec"),
    # -- checkpoints: numbers ---------------------------------------------------------------------
    "NaN running_var": Case(model_args("hls", ckpt_with(_tensor("layers.enc1_conv1.bn.running_var", float("nan")))),
                            "NaN"),
    "negative running_var": Case(model_args("hls", ckpt_with(_tensor("layers.enc1_conv1.bn.running_var", -1.0))),
                                 "negative"),
    "infinite weight": Case(model_args("inspect", ckpt_with(_tensor("layers.enc2_conv1.conv.weight", float("inf")))),
                            "layers.enc2_conv1.conv.weight"),
    "NaN bit offset": Case(model_args("hls", ckpt_with(_tensor(
        "layers.enc1_conv1.conv.weight_quant.tensor_quant.msb_clamp_bit_width_impl.bit_width_offset",
        float("nan")))), "NaN"),
    "float baseline to hls": Case(model_args("hls", ckpt_with(_set("config/quantized", False))), ""),
    # -- hls options --------------------------------------------------------------------------------
    "clock nan": Case(hls_args(tiny, "--clock-ns", "nan"), "finite"),
    "clock zero": Case(hls_args(tiny, "--clock-ns", "0"), "--clock-ns"),
    "part with TCL substitution": Case(hls_args(tiny, "--part", "xc7z020[exec touch pwned]"), "not a part name"),
    "unknown part": Case(hls_args(tiny, "--part", "xc9999"), "unknown part"),
    "target fps inf": Case(hls_args(tiny, "--target-fps", "inf"), "finite"),
    "max utilization nan": Case(hls_args(tiny, "--max-utilization", "nan"), "finite"),
    "folding PE 1.9": Case(lambda ws: hls_args(tiny, "--folding", text_file(
        "f.json", json.dumps({"layers": {"enc1_conv1": {"pe": 1.9, "simd": 1}}}))(ws))(ws), "integer"),
    "folding dsp2 on an odd PE": Case(lambda ws: hls_args(tiny, "--folding", text_file(
        "f.json", json.dumps({"layers": {"enc1_conv1": {"pe": 1, "simd": 1, "mult": "dsp2"}}}))(ws))(ws),
        "needs an even PE"),
    "folding unknown multiplier": Case(lambda ws: hls_args(tiny, "--folding", text_file(
        "f.json", json.dumps({"layers": {"enc1_conv1": {"pe": 2, "simd": 1, "mult": "dsp4"}}}))(ws))(ws),
        "mult must be one of"),
    "folding not UTF-8": Case(lambda ws: hls_args(tiny, "--folding", text_file("f.json", b"\xff\xfe{")(ws))(ws),
                              "UTF-8"),
    "folding not JSON": Case(lambda ws: hls_args(tiny, "--folding", text_file("f.json", "{pe: 1")(ws))(ws),
                             "not valid JSON"),
    "folding missing": Case(lambda ws: hls_args(tiny, "--folding", str(ws.root / "none.json"))(ws), "does not exist"),
    "hls into non-empty folder": Case(lambda ws: ["hls", "--model", str(ws.tiny), "--out", non_empty_dir("out")(ws)],
                                      "--force"),
    "hls out is a file": Case(lambda ws: ["hls", "--model", str(ws.tiny), "--out", text_file("out", "x")(ws)],
                              "is a file"),
    "templates folder missing": Case(hls_args(tiny, "--templates", "/nonexistent/tpl"), "does not exist"),
    "template includes outside its folder": Case(
        lambda ws: hls_args(tiny, "--templates", templates_including("../../../etc/passwd")(ws))(ws),
        "can only include files inside"),
    "template with recursion": Case(lambda ws: hls_args(tiny, "--templates", templates_with_recursion(ws))(ws),
                                    "recursion"),
    # -- goldens, templates export ---------------------------------------------------------------------
    "goldens into non-empty folder": Case(lambda ws: ["goldens", "--model", str(ws.tiny), "--out",
                                                      non_empty_dir("gold")(ws)], "--force"),
    "templates export into non-empty folder": Case(lambda ws: ["templates", "export", non_empty_dir("tpl")(ws)],
                                                   "--force"),
    # -- report-resources ----------------------------------------------------------------------------
    "report clock negative": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--clock-ns", "-5"],
                                  "--clock-ns"),
    "report clock nan": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--clock-ns", "nan"], "finite"),
    "report clock zero": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--clock-ns", "0"],
                              "--clock-ns"),
    "report unknown part in --parts": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts",
                                                       "xc7z010,xc9999"], "unknown part 'xc9999'"),
    "report --parts with TCL in a name": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts",
                                                          "xc7z010,xc7z020[exec touch pwned]"], "not a part name"),
    "report --parts names a device twice": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts",
                                                            "xc7z010,xc7z010clg225-1"], "xc7z010 twice"),
    "report --parts empty": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts", " , "],
                                 "comma-separated list"),
    "report --parts without --model": Case(lambda ws: ["report-resources", "--parts", "all"],
                                           "--parts needs --model"),
    "report --parts and --part": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts", "all",
                                                  "--part", "xc7z020"], "not both"),
    "report --parts with --folding": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts", "all",
                                                      "--folding", text_file("f.json", "{}")(ws)], "--folding"),
    "report --parts with --html": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts", "all",
                                                   "--html", str(ws.root / "r.html")], "use --part"),
    "report --target-fps with --folding": Case(lambda ws: ["report-resources", "--model", str(ws.tiny),
                                                           "--target-fps", "30", "--folding", text_file(
                                                               "f.json", "{}")(ws)], "--folding and --target-fps"),
    "report --target-fps nan": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--target-fps", "nan"],
                                    "finite"),
    "report --target-fps negative": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--target-fps",
                                                     "-30"], "--target-fps"),
    "report --target-fps unreachable": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts",
                                                        "all", "--target-fps", "1e9"], "fastest folding reaches"),
    "report --target-fps without --model": Case(lambda ws: ["report-resources", project_copy()(ws),
                                                            "--target-fps", "30"], "--target-fps needs --model"),
    "report --max-utilization nan": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--parts", "all",
                                                     "--max-utilization", "nan"], "finite"),
    "csynth negative LUTs": Case(lambda ws: ["report-resources", "--csynth", csynth_with(
        "<LUT>25000</LUT>", "<LUT>-47</LUT>")(ws)], "non-negative"),
    "csynth NaN": Case(lambda ws: ["report-resources", "--csynth", csynth_with(
        "<Interval-max>100000</Interval-max>", "<Interval-max>nan</Interval-max>")(ws)], "finite"),
    "csynth 1e999": Case(lambda ws: ["report-resources", "--csynth", csynth_with(
        "<FF>30000</FF>", "<FF>1e999</FF>")(ws)], "finite"),
    "csynth garbage number": Case(lambda ws: ["report-resources", "--csynth", csynth_with(
        "<DSP>40</DSP>", "<DSP>forty</DSP>")(ws)], "not a number"),
    "html into a missing folder": Case(lambda ws: ["report-resources", "--csynth", str(CSYNTH), "--html",
                                                   str(ws.root / "no" / "such" / "r.html")], "folder"),
    # -- csim and project manifests --------------------------------------------------------------------
    "csim on a folder without project": Case(lambda ws: ["csim", str(ws.root)], "not a qgen project"),
    "csim manifest not JSON": Case(lambda ws: ["csim", project_copy(
        lambda r: (r / "qgen_project.json").write_text("{oops"))(ws)], "not valid JSON"),
    "csim manifest incomplete": Case(lambda ws: ["csim", project_copy(manifest_edit(
        lambda d: d.pop("sources")))(ws)], "sources"),
    "csim manifest path escape": Case(lambda ws: ["csim", project_copy(manifest_edit(
        lambda d: d["sources"].append("../../../etc/passwd")))(ws)], "relative path inside the project"),
    "csim manifest define injection": Case(lambda ws: ["csim", project_copy(manifest_edit(
        lambda d: d["defines"].update({"X": "1 -fplugin=/tmp/evil.so"})))(ws)], "defines"),
    "csim manifest clock NaN": Case(lambda ws: ["csim", project_copy(manifest_edit(
        lambda d: d.update(clock_ns=float("nan"))))(ws)], "clock_ns"),
    "csim with a broken compiler": Case(lambda ws: ["csim", project_copy()(ws)], "failed", env={"CXX": "/bin/false"}),
    "estimate not JSON": Case(lambda ws: ["report-resources", project_copy(
        lambda r: (r / "resources_estimate.json").write_text("{"))(ws)], "not valid JSON"),
    "estimate with negative LUTs": Case(lambda ws: ["report-resources", project_copy(_estimate_edit(
        lambda d: d["layers"][0].update(lut=-5)))(ws)], "finite non-negative"),
    "estimate with markup in a name": Case(lambda ws: ["report-resources", project_copy(_estimate_edit(
        lambda d: d["layers"][0].update(name="[/bold][link=file:///etc]x")))(ws)], "plain text"),
    # -- train / eval ------------------------------------------------------------------------------------
    "train lr nan": Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--lr", "nan"], "finite"),
    "train lambda inf": Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--lambda-bits", "inf"], "finite"),
    "train unknown device": Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--device", "bogus",
                                             "--epochs", "1"], "device"),
    "train unknown preset": Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--preset", "huge"], "preset"),
    "train unknown part": Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--part", "xc9zzz"], "unknown part"),
    "train target fps without part": Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--target-fps", "100"],
                                          "--target-fps needs --part"),
    "train target fps nan": Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--part", "xc7z020",
                                             "--target-fps", "nan"], "finite"),
    "train float with cost loss": Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--float",
                                                   "--bit-loss", "cost"], "float baseline"),
    "eval on missing data": Case(lambda ws: ["eval", "--model", str(ws.tiny), "--data", str(ws.root / "none")],
                                 "does not exist"),
    "images and masks of different sizes": Case(lambda ws: ["eval", "--model", str(ws.tiny), "--data",
                                                            _mismatched_folder(ws)], "size"),
    # -- round 2: numbers too large for a float, or for the model ------------------------------------
    "calibration integer of 401 digits": Case(lambda ws: ["report-resources", project_copy()(ws), "--calibration",
                                                          calibration_file(factor=HUGE)(ws)], "401 digits"),
    "manifest clock_ns of 401 digits": Case(lambda ws: ["csim", project_copy(
        replace_number("qgen_project.json", "clock_ns"))(ws)], "401 digits"),
    "estimate clock_ns of 401 digits": Case(lambda ws: ["report-resources", project_copy(
        replace_number("resources_estimate.json", "clock_ns"))(ws)], "401 digits"),
    "folding PE of 401 digits": Case(lambda ws: hls_args(tiny, "--folding", text_file(
        "f.json", '{"layers": {"enc1_conv1": {"pe": %s, "simd": 1}}}' % HUGE)(ws))(ws), "401 digits"),
    "schedule with Infinity": Case(lambda ws: ["simulate", project_copy(
        lambda r: (r / "schedule.json").write_text('{"format": "qgen-schedule", "clock_ns": Infinity}'))(ws)],
        "finite"),
    "checkpoint count of 500 digits": Case(model_args("hls", ckpt_with(_set("data/n_val", 10 ** 500))), "n_val"),
    "checkpoint config of 500 digits": Case(model_args("inspect", ckpt_with(_set("config/input_size", 10 ** 500))),
                                            "input_size"),
    "schedule too large for the model": Case(lambda ws: ["simulate", project_copy(big_schedule)(ws), "--frames", "100"],
                                             "GiB"),
    # -- --fifo-depth ------------------------------------------------------------------------------------
    "fifo depth is a superscript digit": Case(simulate_args("--fifo-depth", "concat1_s=\u00b2"), "NAME=DEPTH"),
    "fifo depth above 2^30": Case(simulate_args("--fifo-depth", "concat1_s=99999999999999999999999"), "NAME=DEPTH"),
    "fifo depth given twice": Case(simulate_args("--fifo-depth", "concat1_s=4", "--fifo-depth", "concat1_s=8"),
                                   "twice"),
    "fifo depth of an unknown FIFO": Case(simulate_args("--fifo-depth", "nope=4"), "the FIFOs are"),
    # -- structure the readers did not check ----------------------------------------------------------------
    "manifest layers are not objects": Case(lambda ws: ["report-resources", project_copy(manifest_edit(
        lambda d: d.update(layers=[1, "x", None])))(ws)], "layers[0]"),
    "complex running_var": Case(model_args("hls", ckpt_with(_complex("layers.enc1_conv1.bn.running_var"))),
                                "complex"),
    "complex weight": Case(model_args("inspect", ckpt_with(_complex("layers.enc2_conv1.conv.weight"))), "complex"),
    "20000 x 20000 training PNG": Case(lambda ws: ["eval", "--model", str(ws.tiny), "--data", huge_png(ws)], "pixel"),
    "calibration with a non-plain source": Case(lambda ws: hls_args(tiny, "--calibration", calibration_file(
        "[bold]\x1b[2J")(ws))(ws), "plain text"),
    "data spec with terminal escapes": Case(model_args("eval", ckpt_with(_set(
        "data/spec", "\x1b]0;owned\x07\x1b[2J/nonexistent"))), "does not exist"),
    # -- output folders that are no folder to replace -----------------------------------------------------
    "hls out is empty": Case(lambda ws: ["hls", "--model", str(ws.tiny), "--out", ""], "current folder"),
    "hls out is the current folder": Case(lambda ws: ["hls", "--model", str(ws.tiny), "--out", "."], "current folder"),
    "hls out is / with force": Case(lambda ws: ["hls", "--model", str(ws.tiny), "--out", "/", "--force"],
                                    "current folder"),
    "goldens out is the parent with force": Case(lambda ws: ["goldens", "--model", str(ws.tiny), "--out", "..",
                                                             "--force"], "current folder"),
    "hls out is a symlink with force": Case(lambda ws: ["hls", "--model", str(ws.tiny), "--out", symlinked_folder(ws),
                                                        "--force"], "symbolic link"),
    # -- reads that would never end -----------------------------------------------------------------------
    "calibration is /dev/zero": Case(hls_args(tiny, "--calibration", "/dev/zero"), "not a regular file"),
    "folding is a FIFO": Case(lambda ws: hls_args(tiny, "--folding", fifo("f.json")(ws))(ws), "not a regular file"),
    "report folding is /dev/zero": Case(lambda ws: ["report-resources", "--model", str(ws.tiny), "--folding",
                                                    "/dev/zero"], "not a regular file"),
    "csynth is a FIFO": Case(lambda ws: ["report-resources", "--csynth", fifo("csynth.xml")(ws)], "not a regular file"),
    "checkpoint is /dev/zero": Case(model_args("inspect", lambda ws: "/dev/zero"), "not a regular file"),
    "training image is a FIFO": Case(lambda ws: ["eval", "--model", str(ws.tiny), "--data", _fifo_images(ws)],
                                     "not a regular file"),
    # -- symbolic links out of a project or template folder ------------------------------------------------
    "csim source linked outside": Case(lambda ws: ["csim", project_copy(link_outside(
        "firmware/quantunet.cpp"))(ws)], "symbolic link"),
    "csim build folder linked outside": Case(lambda ws: ["csim", project_copy(link_outside(
        "csim_build", "elsewhere/"))(ws)], "symbolic link"),
    "estimate linked outside": Case(lambda ws: ["report-resources", project_copy(link_outside(
        "resources_estimate.json", "elsewhere/estimate.json"))(ws)], "symbolic link"),
    "template linked outside": Case(lambda ws: hls_args(tiny, "--templates", templates_with_link(ws))(ws),
                                    "symbolic link"),
    # -- existing files are not overwritten without --force --------------------------------------------------
    "save-calibration over an existing file": Case(lambda ws: ["report-resources", project_copy()(ws), "--compare",
                                                               "--save-calibration", existing("cal.json")(ws)],
                                                   "--force"),
    "html over an existing file": Case(lambda ws: ["report-resources", project_copy()(ws), "--html",
                                                   existing("r.html")(ws)], "--force"),
    "export-qonnx over an existing file": Case(lambda ws: ["export-qonnx", "--model", str(ws.tiny), "--out",
                                                           existing("m.onnx")(ws)], "--force"),
    "train over an existing checkpoint": Case(lambda ws: ["train", "--out", existing("t.pt")(ws), "--epochs", "1"],
                                              "--force"),
}
if not torch.cuda.is_available():
    CASES["train cuda without a GPU"] = Case(lambda ws: ["train", "--out", str(ws.root / "t.pt"), "--device", "cuda",
                                                         "--epochs", "1"], "CUDA")


def _mismatched_folder(ws: Workspace) -> str:
    import numpy as np
    from PIL import Image
    root = ws.root / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(4):
        Image.fromarray(np.full((32, 32), 100, np.uint8)).save(root / "images" / f"s{i}.png")
        Image.fromarray(np.zeros((24, 40), np.uint8)).save(root / "masks" / f"s{i}.png")
    return str(root)


def _fifo_images(ws: Workspace) -> str:
    root = ws.root / "data"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for i in range(4):
            os.mkfifo(root / sub / f"s{i}.png")
    return str(root)


def fingerprint(root: Path) -> dict[str, str]:
    """Every file, folder and link under root: content hash, 'dir', the link's target, or 'special'
    (a FIFO is never read: that would block)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = f"link to {os.readlink(path)}"
        elif path.is_dir():
            out[rel] = "dir"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "special"
    return out


def run_cli(args: list[str], env: dict | None = None):
    from codegen.cli import main
    return CliRunner().invoke(main, args, env=env)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_error_line_and_touches_nothing(name, tiny_checkpoint, tiny_project, tmp_path,
                                                            monkeypatch):
    case = CASES[name]
    ws = Workspace(tmp_path / "ws", tiny_checkpoint, tiny_project[0])
    ws.root.mkdir()
    monkeypatch.chdir(ws.root)
    args = case.args(ws)
    before = fingerprint(ws.root)
    result = run_cli(args, case.env)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == case.exit_code, (result.stdout, result.stderr)
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in errors[0]
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stderr), repr(result.stderr)
    assert case.message in errors[0], errors[0]
    after = fingerprint(ws.root)
    assert after == before, {k for k in set(after) ^ set(before)} or "a file changed"


# ---- hostile names: code, paths and TCL from the checkpoint's name -------------------------------

HOSTILE_NAMES = {
    "c++ injection": 'x\n#include <cstdlib>\nstatic int pwn = std::system("touch {marker}");\n//',
    "path escape": "../../escaped_proj",
    "tcl substitution": "x[exec touch {marker}]",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_NAMES))
def test_hostile_checkpoint_names_never_reach_code_tcl_or_paths(case, tiny_checkpoint, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    marker = tmp_path / "marker"
    raw = _raw(tiny_checkpoint)
    raw["name"] = HOSTILE_NAMES[case].format(marker=marker)
    ckpt = _write_ckpt(tmp_path / "hostile.pt", raw)
    result = run_cli(["hls", "--model", str(ckpt), "--images", "1"])
    assert result.exit_code == 0, result.output
    assert "Warning: checkpoint name" in result.stderr and "not a C identifier" in result.stderr
    projects = [p for p in (work / "projects").iterdir()]
    assert len(projects) == 1 and projects[0].parent == work / "projects"       # nothing escaped projects/
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.pt", "work"]
    project = projects[0]
    for path in project.rglob("*"):
        if path.suffix in (".tcl", ".cfg", ".cpp", ".h"):
            text = path.read_text()
            assert "[exec" not in text and "std::system(" not in text and raw["name"] not in text, path
    if case == "c++ injection":
        csim = run_cli(["csim", str(project)])
        assert csim.exit_code == 0, csim.output
    assert not marker.exists()


def test_hls_refuses_when_the_reference_disagrees_with_brevitas(tiny_checkpoint, tmp_path, tmp_path_factory,
                                                                monkeypatch):
    """A wrong integer reference (here: every enc2_conv1 code off by one) is caught before writing."""
    from codegen.ops import Thresholds

    # the code is patched in memory, which qgen's cache keys cannot see: start from an empty cache
    monkeypatch.setenv("QGEN_CACHE", str(tmp_path_factory.mktemp("cache")))

    original = Thresholds.apply

    def off_by_one(self, acc):
        codes = original(self, acc)
        return codes + 1 if acc.shape[1] == 8 else codes     # enc2_conv1 and its peers: 8 channels

    monkeypatch.setattr(Thresholds, "apply", off_by_one)
    monkeypatch.chdir(tmp_path)
    result = run_cli(["hls", "--model", str(tiny_checkpoint), "--out", str(tmp_path / "prj"), "--images", "1"])
    assert result.exit_code == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: the integer reference disagrees with Brevitas") and "enc2_conv1" in error
    assert "codes differ" in error and "--skip-reference-check" in error
    assert list(tmp_path.iterdir()) == []


# ---- error paths stay light: a bad option never imports torch ----------------------------------------

LIGHT_ERRORS = {
    "usage error": ["hls", "--bogus"],
    "missing required option": ["hls"],
    "hls unknown part": ["hls", "--model", "m.pt", "--part", "xc9999"],
    "hls calibration is a device": ["hls", "--model", "m.pt", "--calibration", "/dev/zero"],
    "hls folding missing": ["hls", "--model", "m.pt", "--folding", "none.json"],
    "hls out is a file": ["hls", "--model", "m.pt", "--out", "file.txt"],
    "hls templates missing": ["hls", "--model", "m.pt", "--templates", "none"],
    "train unknown preset": ["train", "--out", "t.pt", "--preset", "huge"],
    "train unknown device": ["train", "--out", "t.pt", "--device", "bogus"],
    "train over an existing file": ["train", "--out", "file.txt"],
    "eval on missing data": ["eval", "--model", "m.pt", "--data", "none"],
    "goldens into a file": ["goldens", "--model", "m.pt", "--out", "file.txt"],
    "export-qonnx over a file": ["export-qonnx", "--model", "m.pt", "--out", "file.txt"],
    "report unknown part": ["report-resources", "--model", "m.pt", "--part", "xc9999"],
    "report html over a file": ["report-resources", "--html", "file.txt"],
    "report unknown part in --parts": ["report-resources", "--model", "m.pt", "--parts", "xc7z010,xc9999"],
    "report --parts without --model": ["report-resources", "--parts", "all"],
    "report --target-fps with --folding": ["report-resources", "--model", "m.pt", "--target-fps", "30",
                                           "--folding", "none.json"],
    "report --target-fps nan": ["report-resources", "--model", "m.pt", "--target-fps", "nan"],
    "csim on a folder without project": ["csim", "."],
    "simulate bad fifo depth": ["simulate", ".", "--fifo-depth", "x=0"],
    "templates export into a file": ["templates", "export", "file.txt"],
}
# runs the CLI, then reports at exit (after sys.exit too) which heavy modules were imported
_HEAVY_WRAPPER = ("import atexit, sys\n"
                  "atexit.register(lambda: print('HEAVY', sorted(m for m in ('torch', 'brevitas') if m in sys.modules),"
                  " file=sys.stderr))\n"
                  "from codegen.cli import main\n"
                  "main(prog_name='qgen')\n")


@pytest.mark.parametrize("name", sorted(LIGHT_ERRORS))
def test_option_errors_never_import_torch(name, tmp_path):
    (tmp_path / "file.txt").write_text("x")
    result = subprocess.run([sys.executable, "-c", _HEAVY_WRAPPER, *LIGHT_ERRORS[name]], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")], result.stderr
    assert "HEAVY []" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
