"""`qgen train` and `qgen eval` end to end on the tiny preset."""
import json

from quantunet.checkpoint import load_checkpoint


def test_train_then_eval_json(cli, tmp_path):
    out = tmp_path / "t.pt"
    result = cli("train", "--preset", "tiny", "--epochs", "1", "--out", out, "--seed", "5", "--json")
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out).config.input_size == 32
    result = cli("eval", "--model", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("pixel_accuracy", "dice", "iou", "avg_bits", "avg_bits_weighted", "size_bytes",
                "float_size_bytes", "layers"):
        assert key in report
    assert len(report["layers"]) == 23
    assert {"name", "weight_bits", "act_bits"} <= set(report["layers"][0])
    assert report["size_bytes"] < report["float_size_bytes"]


def test_training_is_deterministic_for_a_seed(cli, tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    for path in (a, b):
        assert cli("train", "--preset", "tiny", "--epochs", "1", "--out", path, "--seed", "7",
                   "--json").exit_code == 0
    sa, sb = load_checkpoint(a).raw["state_dict"], load_checkpoint(b).raw["state_dict"]
    assert sa.keys() == sb.keys()
    assert all((sa[k] == sb[k]).all() for k in sa)


def test_float_baseline(cli, tmp_path):
    out = tmp_path / "f.pt"
    assert cli("train", "--preset", "tiny", "--epochs", "1", "--float", "--out", out, "--json").exit_code == 0
    report = json.loads(cli("eval", "--model", out, "--json").stdout)
    assert report["quantized"] is False and report["avg_bits"] == 32.0
    assert report["size_bytes"] == report["float_size_bytes"]


def test_unknown_preset_and_bad_data_path_are_one_line_errors(cli, tmp_path):
    result = cli("train", "--preset", "huge", "--out", tmp_path / "x.pt")
    assert result.exit_code == 2 and "unknown preset 'huge'" in result.output
    result = cli("train", "--preset", "tiny", "--data", tmp_path / "missing", "--out", tmp_path / "x.pt")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.pt").exists()


def test_training_runs_data_parallel_under_torchrun(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).parent / "torchrun"
    out = tmp_path / "ddp.pt"
    result = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "codegen.cli", "train",
                             "--preset", "tiny", "--epochs", "1", "--out", str(out), "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ckpt = load_checkpoint(out)
    assert ckpt.metrics["dice"] >= 0 and list(tmp_path.iterdir()) == [out]   # only rank 0 wrote
