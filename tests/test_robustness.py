"""Output folders and interrupts: nothing half-written, nothing private by accident, nothing lost."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen.errors import QgenError
from codegen.project_io import atomic_directory


def test_new_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "out") as tmp:
            (tmp / "f.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755


def test_checkpoints_follow_the_umask(tmp_path):
    from quantunet.checkpoint import save_checkpoint
    from quantunet.config import get_preset
    from quantunet.model import build_model

    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.pt", build_model(get_preset("tiny").model))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_failed_swap_keeps_the_old_folder_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    real_rename = Path.rename

    def failing_rename(self, dest):
        if Path(dest) == target and ".tmp" in self.name:
            raise PermissionError(13, "Permission denied", str(dest))
        return real_rename(self, dest)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(QgenError, match="cannot replace"):
        with atomic_directory(target, force=True) as tmp:
            (tmp / "new.txt").write_text("new" * 1000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (target / "old.txt").read_text() == "old"


def test_failure_inside_removes_the_temp_folder(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "out") as tmp:
            (tmp / "f").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_torch_imports_stops_with_130_and_writes_nothing(tiny_checkpoint, tmp_path, tmp_path_factory):
    """SIGINT in the first second (torch and Brevitas still importing) must end the run."""
    out = tmp_path / "prj"
    empty_cache = {**os.environ, "QGEN_CACHE": str(tmp_path_factory.mktemp("cache"))}   # so torch is imported
    proc = subprocess.Popen([sys.executable, "-m", "codegen.cli", "hls", "--model", str(tiny_checkpoint),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=empty_cache)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
