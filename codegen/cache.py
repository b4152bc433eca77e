"""qgen's cache folder: entries keyed by content, written atomically, bounded by LRU eviction.

What is kept (`qgen cache info` lists it by kind): the lowered integer graph of a checkpoint with
its checked golden images (`lowered`), the fitted folding (`fold`), FIFO depths from the timing
model (`fifo`), the lint's verdict on a set of kernels (`lint`), compiled objects (`objects`) and
the precompiled `ap_int.h` (`pch`).

- **Keys** are sha256 digests of every input's exact bytes plus qgen's version and a digest of
  qgen's own Python sources (`code_version`): a changed byte anywhere gives another key, never a
  stale entry. Time stamps are never part of a key.
- **Entries** are folders `<root>/<kind>/<key>/`, built in `<root>/tmp/` and renamed into place,
  so a reader sees a whole entry or none. Their content is plain data (JSON, npz without pickles,
  object files) that each reader validates: a bad entry is a miss and is deleted.
- **Bounded**: after every write the least recently used entries (a hit touches its folder) are
  removed until the total is under the cap: `QGEN_CACHE_MAX_BYTES` (bytes, or with K/M/G), by
  default DEFAULT_MAX_BYTES. Entries this process uses are kept until it exits, then the cap
  holds again. The folder is `QGEN_CACHE`, or ~/.cache/qgen.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import QgenError

DEFAULT_MAX_BYTES = 1 << 30                 # 1 GiB
ABANDONED_AFTER_S = 3600                    # a folder in tmp/ this old belongs to no live process
KINDS = ("lowered", "fold", "fifo", "lint", "objects", "pch")
_KEY = re.compile(r"[0-9a-f]{16,64}")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    return Path(os.environ.get("QGEN_CACHE") or Path.home() / ".cache" / "qgen")


def max_bytes() -> int:
    """The cap, from QGEN_CACHE_MAX_BYTES ("500M", "2G", "1073741824"); 0 keeps nothing."""
    text = os.environ.get("QGEN_CACHE_MAX_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    match = _SIZE.fullmatch(text)
    if not match:
        raise QgenError(f"QGEN_CACHE_MAX_BYTES={text[:40]!r} is not a size (e.g. 500M, 2G or a number of bytes)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def content_key(*parts: bytes | str) -> str:
    """A sha256 over the parts, each length-prefixed so that no two sequences collide."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else bytes(part)
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


_code_version: str | None = None


def code_version() -> str:
    """qgen's version and the bytes of its Python sources: the package is installed editable, so a
    changed line of code must invalidate everything computed by the old one."""
    global _code_version
    if _code_version is None:
        from importlib import metadata
        try:
            version = metadata.version("qgen")
        except metadata.PackageNotFoundError:
            version = "unknown"
        parts: list[bytes | str] = [version]
        for package in ("codegen", "quantunet"):
            for path in sorted((_PACKAGE_ROOT / package).rglob("*.py")):
                parts += [path.relative_to(_PACKAGE_ROOT).as_posix(), path.read_bytes()]
        _code_version = content_key(*parts)
    return _code_version


class Cache:
    def __init__(self, root: Path | None = None, cap: int | None = None):
        self.root = Path(root) if root is not None else cache_root()
        self.cap = max_bytes() if cap is None else cap
        self._in_use: set[Path] = set()     # entries this process relies on: never evicted under it
        self._lock = threading.Lock()

    def _entry(self, kind: str, key: str) -> Path:
        if kind not in KINDS or not _KEY.fullmatch(key):
            raise ValueError(f"bad cache entry {kind}/{key}")
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        """The entry's folder if present (and marks it as just used), else None."""
        entry = self._entry(kind, key)
        if entry.is_symlink() or not entry.is_dir():
            return None
        try:
            os.utime(entry)
        except OSError:
            return None
        with self._lock:
            self._in_use.add(entry)
        return entry

    def put(self, kind: str, key: str, fill: Callable[[Path], None]) -> Path | None:
        """Create an entry: `fill` writes its files into an empty folder, which then appears at once.
        Returns the entry, or None when the cache cannot be written (an OSError: the caller goes on
        without it); any other exception from `fill` leaves nothing behind and goes on."""
        entry = self._entry(kind, key)
        try:
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.root / "tmp"))
        except OSError:
            return None
        try:
            fill(building)
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
            return None
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            os.rename(building, entry)
        except OSError:                 # written meanwhile by another process, or the disk is full
            shutil.rmtree(building, ignore_errors=True)
            if not entry.is_dir():
                return None
        with self._lock:
            self._in_use.add(entry)
        self.evict()
        return entry

    def discard(self, kind: str, key: str) -> None:
        """Remove a bad entry (a reader found it damaged)."""
        entry = self._entry(kind, key)
        with self._lock:
            self._in_use.discard(entry)
        _remove(entry, self.root)

    def get_json(self, kind: str, key: str, name: str = "entry.json"):
        """The JSON document of an entry, or None (missing or unreadable: then it is removed)."""
        entry = self.get(kind, key)
        if entry is None:
            return None
        try:
            return json.loads((entry / name).read_text())
        except (OSError, ValueError):
            self.discard(kind, key)
            return None

    def put_json(self, kind: str, key: str, data, name: str = "entry.json") -> None:
        self.put(kind, key, lambda folder: (folder / name).write_text(json.dumps(data)))

    # ---- size ------------------------------------------------------------------------------------

    def entries(self) -> list[tuple[str, Path, int, float]]:
        """(kind, folder, bytes, last use) of every entry."""
        found = []
        for kind in KINDS:
            try:
                children = list(os.scandir(self.root / kind))
            except OSError:
                continue
            for child in children:
                try:
                    used = child.stat(follow_symlinks=False).st_mtime
                except OSError:
                    continue
                found.append((kind, Path(child.path), _size(Path(child.path)), used))
        return found

    def evict(self, keep_in_use: bool = True) -> int:
        """Remove least recently used entries until the total fits the cap; returns bytes freed."""
        self._remove_abandoned()
        entries = sorted(self.entries(), key=lambda e: e[3])
        total = sum(e[2] for e in entries)
        freed = 0
        with self._lock:
            in_use = set(self._in_use) if keep_in_use else set()
        for _, path, size, _ in entries:
            if total <= self.cap:
                break
            if path in in_use:
                continue
            _remove(path, self.root)
            total -= size
            freed += size
        return freed

    def _remove_abandoned(self) -> None:
        """Half-built entries of processes that died (they are not entries, so never counted)."""
        try:
            children = list(os.scandir(self.root / "tmp"))
        except OSError:
            return
        now = time.time()
        for child in children:
            try:
                if now - child.stat(follow_symlinks=False).st_mtime > ABANDONED_AFTER_S:
                    _remove(Path(child.path), self.root)
            except OSError:
                pass

    def release(self) -> None:
        """This process no longer needs its entries: the cap holds for them too."""
        with self._lock:
            self._in_use.clear()
        self.evict()

    def info(self) -> dict:
        entries = self.entries()
        kinds = {kind: {"entries": 0, "bytes": 0} for kind in KINDS}
        for kind, _, size, _ in entries:
            kinds[kind]["entries"] += 1
            kinds[kind]["bytes"] += size
        return {"folder": str(self.root), "cap_bytes": self.cap, "bytes": sum(e[2] for e in entries),
                "entries": len(entries), "kinds": kinds}

    def clear(self) -> dict:
        """Remove every entry (and leftovers of interrupted writes); returns what was removed."""
        before = self.info()
        for _, path, _, _ in self.entries():
            _remove(path, self.root)
        shutil.rmtree(self.root / "tmp", ignore_errors=True)
        with self._lock:
            self._in_use.clear()
        return before


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _remove(path: Path, root: Path) -> None:
    """Take an entry out of sight first (a rename), then delete it: a reader never sees half of it."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    try:
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        doomed = Path(tempfile.mkdtemp(prefix="evicted-", dir=root / "tmp"))
        os.rename(path, doomed / "entry")
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)


_shared: Cache | None = None


def shared() -> Cache:
    """The process's cache, for the current QGEN_CACHE and QGEN_CACHE_MAX_BYTES; at exit it gives
    back the entries it kept (so the cap holds again)."""
    global _shared
    root, cap = cache_root(), max_bytes()
    if _shared is None or _shared.root != root or _shared.cap != cap:
        if _shared is None:
            atexit.register(lambda: _shared.release())
        else:
            _shared.release()
        _shared = Cache(root, cap)
    return _shared
