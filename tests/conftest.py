"""Shared fixtures: a briefly trained `tiny` QuantU-Net checkpoint and a CLI runner."""
from __future__ import annotations

import warnings

import pytest
from click.testing import CliRunner

warnings.filterwarnings("ignore", message=".*fast_hadamard_transform.*")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny QuantU-Net trained for 2 epochs with a fast bitwidth learning rate (bits have moved)."""
    from quantunet.train import TrainArgs, train, write_checkpoint

    model, summary = train(TrainArgs(preset="tiny", epochs=2, bits_lr=0.1, seed=1))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    write_checkpoint(path, model, summary)
    return path


@pytest.fixture
def cli():
    """Invoke `qgen` in-process; returns click's Result."""
    from codegen.cli import main

    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
    return run


@pytest.fixture(scope="session")
def tiny_project(tiny_checkpoint, tmp_path_factory):
    """(folder, JSON summary) of the tiny checkpoint as a template-backend project for xc7z020.
    Shared by several test modules: copy it before editing anything in it."""
    import json

    from codegen.cli import main

    out = tmp_path_factory.mktemp("hls") / "prj"
    result = CliRunner().invoke(main, ["hls", "--model", str(tiny_checkpoint), "--part", "xc7z020",
                                       "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)
