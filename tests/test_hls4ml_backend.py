"""The hls4ml backend: the same graph through hls4ml's layer-list and extension APIs, bit-exact."""
import json

import pytest

from .randomized import randomised_tiny, save_as_checkpoint


@pytest.fixture(scope="module")
def hls4ml_project(tiny_checkpoint, tmp_path_factory):
    from click.testing import CliRunner

    from codegen.cli import main
    out = tmp_path_factory.mktemp("h4") / "prj"
    result = CliRunner().invoke(main, ["hls", "--backend", "hls4ml", "--model", str(tiny_checkpoint),
                                       "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_project_is_a_normal_hls4ml_project_with_our_layers(hls4ml_project):
    out, summary = hls4ml_project
    assert summary["backend"] == "hls4ml" and summary["part"] == "xc7z020clg400-1"
    for rel in ("build_prj.tcl", "hls4ml_config.yml", "firmware/quantunet.cpp", "firmware/parameters.h",
                "firmware/nnet_utils/nnet_qgen_threshold.h", "firmware/nnet_utils/nnet_qgen_conv_transpose.h",
                "tb/tb_qgen.cpp", "qgen_build_prj.tcl", "tb_data/manifest.json", "tb_data/tb_input_features.dat"):
        assert (out / rel).is_file(), rel
    top = (out / "firmware" / "quantunet.cpp").read_text()
    assert "nnet::qgen_conv_transpose<" in top and "nnet::qgen_threshold<" in top
    assert "xc7z020clg400-1" in (out / "build_prj.tcl").read_text() + (out / "project.tcl").read_text()


def test_precisions_are_the_graph_types(hls4ml_project, tiny_checkpoint):
    from codegen.pipeline import lower

    _, summary = hls4ml_project
    graph = lower(tiny_checkpoint).graph
    assert len(summary["layers"]) == 23
    for row in summary["layers"]:
        assert {"name", "weight_bits", "in_bits", "out_bits", "acc_bits"} <= set(row)
        op = graph.op(row["name"])
        assert row["weight_bits"] == op.weight_type.bits and row["acc_bits"] == op.acc_type.bits
        w = op.weight_type
        assert row["precision"]["weight"].startswith(f"ap_fixed<{w.bits},{w.bits + w.exp}")


def test_csim_is_bit_exact(cli, hls4ml_project):
    out, _ = hls4ml_project
    result = cli("csim", out, "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["passed"], report
    assert {r["name"] for r in report["layers"]} == {"end_to_end.logits", "end_to_end.mask"}


@pytest.mark.parametrize("seed", [0, 1])
def test_csim_is_bit_exact_for_random_bitwidths(cli, tmp_path, seed):
    bits = [2] * 45 if seed == 0 else None
    model, _ = randomised_tiny(200 + seed, bits)
    ckpt = save_as_checkpoint(model, tmp_path / "r.pt")
    out = tmp_path / "prj"
    assert cli("hls", "--backend", "hls4ml", "--model", ckpt, "--out", out, "--images", "1").exit_code == 0
    report = json.loads(cli("csim", out, "--json").stdout)
    assert report["passed"], report


def test_edited_hls4ml_kernels_are_used(cli, tiny_checkpoint, tmp_path):
    folder = tmp_path / "t"
    assert cli("templates", "export", folder).exit_code == 0
    kernel = folder / "hls4ml" / "nnet_qgen_threshold.h"
    kernel.write_text(kernel.read_text().replace("namespace nnet {", "// tuned by hand\nnamespace nnet {", 1))
    out = tmp_path / "prj"
    assert cli("hls", "--backend", "hls4ml", "--model", tiny_checkpoint, "--templates", folder, "--out", out,
               "--images", "1").exit_code == 0
    assert "// tuned by hand" in (out / "firmware" / "nnet_utils" / "nnet_qgen_threshold.h").read_text()


def test_simulate_and_report_resources_say_what_applies_to_hls4ml_projects(cli, hls4ml_project):
    out, _ = hls4ml_project
    for args, applies in ((("simulate", out), f"qgen csim {out}"), (("report-resources", out), "csynth.xml"),
                          (("report-resources", out, "--compare"), "csynth.xml")):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "is an hls4ml-backend project" in result.output and applies in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
