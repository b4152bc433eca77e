"""User files in and out: bounded reads of regular files, strict JSON, checked numbers, atomic writes.

Every file qgen reads on the user's behalf (calibration, folding, project manifests, estimates,
schedules, csynth reports) goes through `read_input_bytes`: regular files only (a FIFO or
/dev/zero would block or never end), at most `max_bytes`. JSON goes through `parse_json`, which
refuses NaN/Infinity, numbers that overflow a float, integers of more than MAX_INT_DIGITS digits
(naming the key) and repeated keys, so every number a reader sees can be compared and converted
without OverflowError, and no value hides behind a second one of the same name.
`check_number` is the one range check for numbers from input files.

Single user files (a saved calibration, an HTML report, a QONNX model) are written by
`atomic_file`: a temporary sibling with the umask's permissions, flushed to disk, then renamed
over the target, and an existing target is only replaced with --force. A full disk or a crash
leaves the old file as it was.
"""
from __future__ import annotations

import errno
import json
import math
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import QgenError

MAX_INT_DIGITS = 30              # 10**30 still converts to float; nothing qgen reads needs more
DEFAULT_MAX_JSON_BYTES = 16 << 20
_CHUNK = 1 << 20


def describe_os_error(exc: OSError, path: str | Path | None = None) -> str:
    """'No space left on device: out/firmware/x.h': the reason, then the file (or `path`)."""
    reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else "") or str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else path
    return f"{reason}: {where}" if where is not None else reason


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- reading ----------------------------------------------------------------------------------

def read_input_bytes(path: str | Path, what: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; QgenError naming `what` otherwise.

    O_NONBLOCK: opening a FIFO must not wait for a writer; fstat on the open file then decides
    (no window between checking a name and reading what it points to)."""
    shown = f"{what} '{path}'"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise QgenError(f"{shown} does not exist") from None
    except OSError as exc:
        raise QgenError(f"cannot read {shown}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise QgenError(f"{shown} is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise QgenError(f"{shown} is not a regular file (devices, FIFOs and sockets are not read)")
        too_large = f"{shown} is larger than {_size(max_bytes)}: not a {what}"
        if info.st_size > max_bytes:
            raise QgenError(too_large)
        chunks, total = [], 0
        while True:                  # bounded even if the file grows while it is read
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise QgenError(too_large)
        return b"".join(chunks)
    except OSError as exc:
        raise QgenError(f"cannot read {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n:,} bytes"


class _BadNumber:
    """Stands in for a number the parser met but qgen refuses; the enclosing object names it."""

    def __init__(self, what: str):
        self.what = what


class _Refused(ValueError):
    pass


def _parse_int(text: str):
    digits = len(text.lstrip("-"))
    return _BadNumber(f"an integer of {digits:,} digits") if digits > MAX_INT_DIGITS else int(text)


def _parse_float(text: str):
    value = float(text)
    return value if math.isfinite(value) else _BadNumber(f"{text[:30]}, beyond the range of a float")


def _first_bad(value, where: str) -> tuple[str, _BadNumber] | None:
    """A refused number in `value` or in the lists inside it (objects check themselves)."""
    if isinstance(value, _BadNumber):
        return where, value
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _first_bad(item, f"{where}[{i}]")
            if found:
                return found
    return None


def _checked_object(pairs: list) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:     # json.loads keeps the last silently: a second "clock_ns" would hide the first
            raise _Refused(f"key '{key[:40]}' appears twice")
        found = _first_bad(value, key[:40])
        if found:
            raise _Refused(f"'{found[0]}' must be a number qgen can hold (finite, at most {MAX_INT_DIGITS} "
                           f"digits), got {found[1].what}")
        out[key] = value
    return out


def parse_json(data: bytes | str, where: str):
    """JSON text -> Python objects with only finite numbers of bounded size and no repeated keys;
    QgenError naming the key otherwise."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise QgenError(f"{where} is not UTF-8 text") from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_BadNumber,
                           object_pairs_hook=_checked_object)
        _checked_object([("(top level)", value)])
        return value
    except json.JSONDecodeError as exc:
        raise QgenError(f"{where} is not valid JSON (line {exc.lineno})") from None
    except _Refused as exc:
        raise QgenError(f"{where}: {exc}") from None
    except RecursionError:
        raise QgenError(f"{where} is nested too deeply to be a qgen file") from None


def read_json_input(path: str | Path, what: str, max_bytes: int = DEFAULT_MAX_JSON_BYTES):
    """A JSON input file, read with `read_input_bytes` and parsed with `parse_json`."""
    return parse_json(read_input_bytes(path, what, max_bytes), f"{what} '{path}'")


def is_number(value, lo: float | None = None, hi: float | None = None, integer: bool = False) -> bool:
    """A finite number (an int with `integer`; never a bool) within [lo, hi]. Safe for ints of any
    size: they are compared, never converted to float."""
    kind = int if integer else (int, float)
    return (not isinstance(value, bool) and isinstance(value, kind)
            and (not isinstance(value, float) or math.isfinite(value))
            and (lo is None or value >= lo) and (hi is None or value <= hi))


def check_number(value, what: str, *, lo: float | None = None, hi: float | None = None,
                 integer: bool = False):
    """`value` if `is_number`, else QgenError saying what `what` must be."""
    if not is_number(value, lo, hi, integer):
        span = f" in {lo:g}..{hi:g}" if lo is not None and hi is not None else \
            f" >= {lo:g}" if lo is not None else f" <= {hi:g}" if hi is not None else ""
        raise QgenError(f"{what} must be {'an integer' if integer else 'a number'}{span}, got {shown_value(value)}")
    return value


def shown_value(value, limit: int = 40) -> str:
    """A value from an input file, short enough for a message (str() of a huge int would raise)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
        return f"an integer of {value.bit_length():,} bits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---- writing ----------------------------------------------------------------------------------

def check_new_file(path: str | Path, force: bool, what: str = "file") -> Path:
    """Refuse, before any work, a target that is a folder, sits in a missing folder, or exists
    without `force`."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise QgenError(f"'{path}' does not name a {what}")
    if path.is_dir():
        raise QgenError(f"'{path}' is a folder; the {what} needs a file name")
    if not path.parent.is_dir():
        raise QgenError(f"folder '{path.parent}' for the {what} does not exist")
    if (path.exists() or path.is_symlink()) and not force:
        raise QgenError(f"'{path}' already exists; use --force to overwrite it")
    return path


@contextmanager
def atomic_file(path: str | Path, force: bool = False, what: str = "file"):
    """Yield a temporary path next to `path`; once the body has written it, it becomes `path`.

    The temporary file gets the permissions an ordinary new file gets (mkstemp alone makes it
    private), is fsync'ed before the rename, and is removed when anything fails. Without `force`
    an existing `path` is never replaced, not even one that appeared while the body ran."""
    path = check_new_file(path, force, what)
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise QgenError(f"cannot write {describe_os_error(exc, path)}") from None
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~current_umask())
        yield tmp
        _flush_to_disk(tmp)
        _move_into_place(tmp, path, force)
    except OSError as exc:
        raise QgenError(describe_os_error(exc, path).replace(str(tmp), str(path))) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_file_atomic(path: str | Path, data: bytes | str, force: bool = False, what: str = "file") -> Path:
    """Write `data` to `path` through `atomic_file`."""
    with atomic_file(path, force, what) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)


def _flush_to_disk(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_into_place(tmp: Path, path: Path, force: bool) -> None:
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)           # fails if `path` exists: no window for overwriting a new file
    except FileExistsError:
        raise QgenError(f"'{path}' already exists; use --force to overwrite it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists() or path.is_symlink():   # a file system without hard links
            raise QgenError(f"'{path}' already exists; use --force to overwrite it") from None
        os.replace(tmp, path)
