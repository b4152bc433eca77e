"""Checkpoints: round trip, and refusal of anything that is not a safe qgen checkpoint."""
import os
import pickle

import pytest
import torch

from quantunet.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from quantunet.config import get_preset
from quantunet.model import build_model


def test_round_trip_reproduces_outputs_and_bitwidths(tiny_checkpoint, tmp_path):
    ckpt = load_checkpoint(tiny_checkpoint)
    model = ckpt.build_model()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        expected = model(x)
    copy = save_checkpoint(tmp_path / "copy.pt", model, metrics=ckpt.metrics, data=ckpt.data)
    again = load_checkpoint(copy).build_model()
    with torch.no_grad():
        assert torch.equal(again(x), expected)
    assert again.bit_table() == model.bit_table() == ckpt.raw["bit_table"]
    for key in ("config", "state_dict", "bit_table", "metrics", "data", "training", "versions"):
        assert key in ckpt.raw


def test_float_checkpoint_round_trip(tmp_path):
    model = build_model(get_preset("tiny").model.replace(quantized=False)).eval()
    path = save_checkpoint(tmp_path / "float.pt", model)
    assert not load_checkpoint(path).config.quantized


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


def test_malicious_pickle_is_refused_and_never_executed(tmp_path):
    _Exploit.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "qgen-checkpoint", "payload": _Exploit()}, path)
    with pytest.raises(CheckpointError, match="not a qgen checkpoint"):
        load_checkpoint(path)
    assert not _Exploit.marker.exists()


def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="not a qgen checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"hello world", b"PK\x03\x04garbage"])
def test_garbage_files_are_refused(tmp_path, content):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a qgen checkpoint"):
        load_checkpoint(path)


def test_foreign_torch_file_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="no 'qgen-checkpoint' marker"):
        load_checkpoint(path)


def test_an_archive_over_the_size_limit_is_refused_before_loading(tiny_checkpoint, tmp_path, monkeypatch):
    import zipfile

    from quantunet import checkpoint

    monkeypatch.setattr(checkpoint.torch, "load", lambda *a, **k: pytest.fail("torch.load reached"))
    monkeypatch.setattr(checkpoint, "MAX_CHECKPOINT_BYTES", tiny_checkpoint.stat().st_size - 1)
    with pytest.raises(CheckpointError, match="larger than"):
        load_checkpoint(tiny_checkpoint)
    # a small file whose entry unpacks to more than the limit (a zip bomb)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\0" * (4 << 20))
    monkeypatch.setattr(checkpoint, "MAX_CHECKPOINT_BYTES", 1 << 20)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(CheckpointError, match="unpacks to more than 1 MiB"):
        load_checkpoint(bomb)
    # many entries: refused from the end record, before the central directory is read
    many = tmp_path / "many.pt"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(50):
            archive.writestr(f"many/{i}", b"")
    monkeypatch.setattr(checkpoint.zipfile, "ZipFile", lambda *a, **k: pytest.fail("central directory read"))
    for limit in ("MAX_CHECKPOINT_ENTRIES", "MAX_CENTRAL_DIRECTORY_BYTES"):
        with monkeypatch.context() as patched:
            patched.setattr(checkpoint, limit, 49)
            with pytest.raises(CheckpointError, match="more than .* entries or a central directory"):
                load_checkpoint(many)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_cli_reports_a_bad_checkpoint_in_one_line(cli, tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint")
    result = cli("eval", "--model", path)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "not a qgen checkpoint" in result.output and "Traceback" not in result.output
