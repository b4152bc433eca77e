"""Output folders and files, interrupts: nothing half-written, nothing private by accident, nothing lost."""
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen.errors import QgenError
from codegen.project_io import atomic_directory
from codegen.safe_io import write_file_atomic
from codegen.terminal import sanitize_for_terminal


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


def test_single_files_are_atomic_follow_the_umask_and_need_force(tmp_path):
    target = tmp_path / "cal.json"
    old = os.umask(0o022)
    try:
        write_file_atomic(target, "first")
        with pytest.raises(QgenError, match="--force"):
            write_file_atomic(target, "second")
        assert target.read_text() == "first"
        write_file_atomic(target, "third", force=True)
    finally:
        os.umask(old)
    assert target.read_text() == "third" and target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.json"]


def test_a_full_disk_keeps_the_old_file_and_says_so(tmp_path, monkeypatch):
    import codegen.safe_io

    target = tmp_path / "cal.json"
    target.write_text("old")

    def full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(codegen.safe_io, "_flush_to_disk", full)
    with pytest.raises(QgenError, match=f"No space left on device: {target}$"):
        write_file_atomic(target, "new" * 1000, force=True)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["cal.json"]


def test_a_full_disk_while_filling_a_folder_names_the_target_and_keeps_the_old_one(tmp_path, monkeypatch):
    """Errors of the writing code carry no file name (a failing write, numpy's tofile): the target is named."""
    from click.testing import CliRunner

    import codegen.commands.hls_cmds
    from codegen.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "mine.txt").write_text("mine")

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(codegen.commands.hls_cmds.shutil, "copyfile", full)
    result = CliRunner().invoke(main, ["templates", "export", "tpl", "--force"])
    assert result.exit_code == 2 and result.stderr.strip() == "Error: No space left on device: tpl", result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tpl"]
    assert [p.name for p in (tmp_path / "tpl").iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_templates_export_follows_the_umask(tmp_path, umask, file_mode, dir_mode):
    from click.testing import CliRunner

    from codegen.cli import main

    old = os.umask(umask)
    try:
        result = CliRunner().invoke(main, ["templates", "export", str(tmp_path / "tpl")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    paths = list((tmp_path / "tpl").rglob("*")) + [tmp_path / "tpl"]
    assert {p.stat().st_mode & 0o777 for p in paths if p.is_file()} == {file_mode}
    assert {p.stat().st_mode & 0o777 for p in paths if p.is_dir()} == {dir_mode}
    assert (tmp_path / "tpl" / "kernels" / "conv.cpp.j2").is_file() and (tmp_path / "tpl" / "tcl").is_dir()


@pytest.mark.parametrize("text", [
    "text\x1b[31mred\x1b[0m", "title\x1b]0;owned\x07", "link\x1b]8;;http://x\x1b\\y", "clear\x9b2J",
    "bell\x07 nul\x00", "bidi \u202eevil", "keypad\x1b=",
])
def test_terminal_text_has_no_escapes_or_controls(text):
    import re

    clean = sanitize_for_terminal(text)
    assert not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", clean), repr(clean)
    assert clean[:4] == text[:4] and "?" in clean        # the text stays, what was hidden shows as '?'


def test_running_out_of_memory_is_an_error_line_and_leaves_nothing(tmp_path, monkeypatch):
    """The handler must not need memory or heavy imports of its own to report this."""
    from click.testing import CliRunner

    import codegen.commands.hls_cmds
    from codegen.cli import main

    def exhausted(src, dst):
        raise MemoryError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(codegen.commands.hls_cmds.shutil, "copyfile", exhausted)
    result = CliRunner().invoke(main, ["templates", "export", "tpl"])
    assert result.exit_code == 2 and result.stderr.startswith("Error: out of memory"), result.output
    assert list(tmp_path.iterdir()) == []
