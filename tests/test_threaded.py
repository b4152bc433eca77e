"""The threaded run (qgen csim --threaded): the real kernels in threads over bounded FIFOs."""
import json

import pytest
from click.testing import CliRunner

from codegen.hls.design import build_design
from codegen.hls.fifo import required_depths
from codegen.hls.folding import Folding
from codegen.pipeline import lower


@pytest.fixture(scope="module")
def project(tiny_project):
    return tiny_project[0]


def run_cli(*args):
    from codegen.cli import main
    return CliRunner().invoke(main, [str(a) for a in args])


def threaded(project, **depths):
    args = [f"--fifo-depth={name}={depth}" for name, depth in depths.items()]
    result = run_cli("csim", project, "--threaded", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def skips(project, tiny_checkpoint):
    """Skip FIFO -> (declared depth, C-order backlog of the project's design, written after a sibling)."""
    graph = lower(tiny_checkpoint).graph
    design = build_design(graph, Folding.from_json(json.loads((project / "folding.json").read_text())))
    declared = {f["name"]: f["depth"] for f in json.loads((project / "qgen_project.json").read_text())["fifos"]}
    return {name: (declared[name], need, design.producer(name).outputs.index(name) > 0,
                   design.producer(name).function)
            for name, need in required_depths(design).items()}


def test_threaded_run_is_bit_exact_at_the_declared_depths(project):
    code, report = threaded(project)
    assert code == 0, report
    assert report["passed"] and not report["deadlock"] and report["blocked"] == [] and report["mismatches"] == 0
    names = {r["name"] for r in report["layers"]}
    assert {"enc1_conv1", "pool1", "dec1_conv1", "head", "end_to_end.logits", "end_to_end.mask"} <= names
    assert all(r["elements"] > 0 for r in report["layers"])


def test_a_skip_fifo_below_its_backlog_deadlocks_and_says_where(project, skips):
    name, (declared, need, _, writer) = max(skips.items(), key=lambda s: s[1][1])
    assert declared >= need > 2
    code, report = threaded(project, **{name: need // 2})
    assert code == 1 and report["deadlock"] and not report["passed"]
    assert {"kernel": writer, "fifo": name, "state": "full"} in report["blocked"]
    assert all(set(b) == {"kernel", "fifo", "state"} for b in report["blocked"])


def test_smallest_completing_depth_is_the_c_order_backlog(project, skips):
    """A kernel in a thread reads and writes in program order: the skip FIFO it needs is the C-order
    backlog the timing model's lower bound computes (hls.fifo.required_depths), one token less when
    the split writes the sibling copy first (the model writes an iteration's outputs at once)."""
    name, (_, need, after_sibling, _) = min(((n, s) for n, s in skips.items() if s[1] > 2), key=lambda s: s[1][1])
    smallest = need - 1 if after_sibling else need
    assert threaded(project, **{name: smallest})[0] == 0
    code, report = threaded(project, **{name: smallest - 1})
    assert code == 1 and report["deadlock"]


def test_fifo_depth_options_are_checked(project):
    result = run_cli("csim", project, "--fifo-depth", "input_s=4")
    assert result.exit_code == 2 and "--fifo-depth needs --threaded" in result.output
    result = run_cli("csim", project, "--threaded", "--fifo-depth", "nowhere=4")
    assert result.exit_code == 2 and "no FIFO named 'nowhere'" in result.output
    result = run_cli("csim", project, "--threaded", "--fifo-depth", "input_s=4", "--fifo-depth", "input_s=5")
    assert result.exit_code == 2 and "is given twice" in result.output
