"""Bad input, across every command: a table of cases, each checked the same way.

For every case: the exit code; exactly one `Error:` line on stderr and no traceback; and nothing
written, changed or lost in the working folder (every input file and folder is fingerprinted before
and after). The hostile-checkpoint cases (code in the name, path escapes, TCL substitution) run the
generated project through csim and must never create their marker file.
"""
from __future__ import annotations

import hashlib
import json
import shutil
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
        conv = folder / "kernels" / "split.cpp.j2"
        conv.write_text(conv.read_text() + f'\n{{% include "{target}" %}}\n')
        return str(folder)
    return setup


def templates_with_recursion(ws: Workspace) -> str:
    from codegen.hls.render import TCL_DIR, TEMPLATES_DIR
    folder = ws.root / "tpl"
    shutil.copytree(TEMPLATES_DIR, folder)
    shutil.copytree(TCL_DIR, folder / "tcl")
    split = folder / "kernels" / "split.cpp.j2"
    split.write_text(split.read_text() + "\nstatic int qgen_fact(int n)\n{\n  return n ? n * qgen_fact(n - 1) : 1;\n}\n")
    return str(folder)


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


def fingerprint(root: Path) -> dict[str, str]:
    """Every file and folder under root with its content hash (folders: 'dir')."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
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
