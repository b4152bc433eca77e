"""Which template line wrote each line of a generated project, and messages that say so.

`qgen hls` stores the map in the project (`.qgen/linemap.json`), built from the renderer's
`RenderedText.origins`; `qgen hls` and `qgen csim` use it to report a compiler error or a lint
finding as `…/conv.cpp.j2:41 (in firmware/layers/enc1_conv1.cpp:57): message`, where the
engineer edits. The file is read back like any input: anything malformed means no map (the
messages then name the generated file alone), and a generated file edited since (its digest
differs) is not mapped, so a line is never blamed on the wrong template line.

On disk each file's lines are runs `[template index, first template line, output lines, step]`:
a run of template text advances one template line per output line (step 1), a multi-line value
such as a weight array repeats its one template line (step 0).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

MAP_FILE = ".qgen/linemap.json"
FORMAT = "qgen-linemap"
MAX_MAP_BYTES = 32 << 20

# g++ and clang: "path:line:col: error: message" (or "fatal error:")
_DIAGNOSTIC = re.compile(r"^(?P<file>[^:\s][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)?\s*(?P<kind>fatal error|error):\s*(?P<msg>.*)$")
_CONTEXT = re.compile(r"^(?:In file included from |\s+from )?(?P<file>[^:\s][^:]*):(?P<line>\d+)(?::\d+)?[:,]")
_LINT_PROBLEM = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<what>.*)$")


@dataclass
class LineMaps:
    templates: list[str] = field(default_factory=list)
    files: dict[str, list] = field(default_factory=dict)      # project path -> per line (template index, line) or None
    digests: dict[str, str] = field(default_factory=dict)     # project path -> sha256 of the text as generated

    @classmethod
    def from_rendered(cls, rendered: dict) -> "LineMaps":
        """The maps of every rendered file in `rendered` (path -> RenderedText or plain text)."""
        maps = cls()
        index: dict[str, int] = {}
        for path, text in rendered.items():
            origins = getattr(text, "origins", None)
            if origins is None:
                continue
            lines = []
            for origin in origins:
                if origin is None:
                    lines.append(None)
                    continue
                template, line = origin
                if template not in index:
                    index[template] = len(maps.templates)
                    maps.templates.append(template)
                lines.append((index[template], line))
            maps.files[path] = lines
            maps.digests[path] = _digest(str(text).encode())
        return maps

    def origin(self, path: str, line: int) -> tuple[str, int] | None:
        """(template path, template line) that wrote line `line` (1-based) of project file `path`."""
        lines = self.files.get(path)
        if lines is None or not 1 <= line <= len(lines) or lines[line - 1] is None:
            return None
        template, template_line = lines[line - 1]
        return self.templates[template], template_line

    def templates_of(self, path: str) -> set[str]:
        return {self.templates[entry[0]] for entry in self.files.get(path, []) if entry is not None}

    def where(self, path: str, line: int) -> str:
        """'template:LINE (in path:line)', or 'path:line' where no template line is known."""
        origin = self.origin(path, line)
        if origin is None:
            return f"{path}:{line}"
        return f"{_shown(origin[0])}:{origin[1]} (in {path}:{line})"

    # ---- on disk ---------------------------------------------------------------------------------

    def to_json(self) -> dict:
        files = {}
        for path, lines in self.files.items():
            runs: list[list[int]] = []
            for entry in lines:
                template, line = entry if entry is not None else (-1, 0)
                run = runs[-1] if runs and runs[-1][0] == template else None
                if run is not None and run[2] == 1 and line - run[1] in (0, 1):
                    run[2], run[3] = 2, line - run[1]
                elif run is not None and run[2] > 1 and line == run[1] + run[3] * run[2]:
                    run[2] += 1
                else:
                    runs.append([template, line, 1, 0])
            files[path] = runs
        return {"format": FORMAT, "version": 1, "templates": self.templates, "files": files, "digests": self.digests}

    @classmethod
    def from_json(cls, data) -> "LineMaps":
        """The maps stored by `to_json`; ValueError if `data` is not such a document."""
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
            raise ValueError("not a qgen line map")
        templates, files = data.get("templates"), data.get("files")
        if not isinstance(templates, list) or not all(isinstance(t, str) and len(t) < 4096 for t in templates):
            raise ValueError("bad template list")
        digests = data.get("digests")
        if not isinstance(files, dict) or not isinstance(digests, dict) or set(digests) != set(files) \
                or not all(isinstance(d, str) for d in digests.values()):
            raise ValueError("bad file table")
        maps = cls(list(templates), digests=dict(digests))
        for path, runs in files.items():
            if not isinstance(runs, list):
                raise ValueError("bad runs")
            lines: list = []
            for run in runs:
                if (not isinstance(run, list) or len(run) != 4 or not all(type(v) is int for v in run)
                        or not -1 <= run[0] < len(templates) or not 0 <= run[1] < 1 << 24
                        or not 1 <= run[2] <= 1 << 24 or run[3] not in (0, 1) or len(lines) + run[2] > 1 << 24):
                    raise ValueError("bad run")
                template, first, count, step = run
                lines.extend([None] * count if template < 0 else
                             [(template, first + step * k) for k in range(count)])
            maps.files[path] = lines
        return maps

    def save(self, root: Path) -> None:
        path = Path(root) / MAP_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json()) + "\n")

    @classmethod
    def load(cls, root: Path) -> "LineMaps":
        """The project's map, without the files edited since they were generated; an empty map
        when it is missing or not a valid map."""
        path = Path(root) / MAP_FILE
        try:
            if path.stat().st_size > MAX_MAP_BYTES:
                return cls()
            maps = cls.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, RecursionError):
            return cls()
        for name in list(maps.files):
            try:
                current = _digest((Path(root) / name).read_bytes()) if _inside(root, name) else None
            except OSError:
                current = None
            if current != maps.digests[name]:
                del maps.files[name], maps.digests[name]
        return maps


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inside(root: Path, name: str) -> bool:
    """Is project path `name` a relative path inside `root` (the map is input: no ../ escapes)?"""
    path = (Path(root) / name).resolve()
    return Path(root).resolve() in path.parents


def _shown(template: str) -> str:
    """A template path as the engineer would type it: relative to the current folder when inside."""
    try:
        relative = os.path.relpath(template)
    except ValueError:
        return template
    return template if relative.startswith("..") else relative


# ---- messages -----------------------------------------------------------------------------------

def compiler_error(stderr: str, maps: LineMaps, fallback: str) -> str:
    """The compiler's first error, at the template line that wrote it.

    An error inside ap_types or system headers is reported at the project line that led there
    (the last 'In file included from' / 'required from here' line of the project before it, or
    the first after it)."""
    lines = stderr.splitlines()
    for i, text in enumerate(lines):
        match = _DIAGNOSTIC.match(text)
        if match is None:
            continue
        message = match.group("msg").strip()
        path, line = _project_path(match.group("file"), maps), int(match.group("line"))
        if path is None:
            context = [m for m in (_CONTEXT.match(t) for t in lines[:i][::-1] + lines[i + 1:]) if m]
            found = next(((p, int(m.group("line"))) for m in context
                          if (p := _project_path(m.group("file"), maps)) is not None), None)
            if found is None:
                return f"{match.group('file')}:{line}: {message}"
            path, line = found
        return f"{maps.where(path, line)}: {message}"
    return fallback


def _project_path(file: str, maps: LineMaps) -> str | None:
    """`file` as a project path when the map knows it (compilers print paths as given on the
    command line: qgen compiles from the project root with relative paths)."""
    normal = os.path.normpath(file).replace(os.sep, "/")
    return normal if normal in maps.files else None


def lint_problem(problem: str, maps: LineMaps) -> str:
    """A lint problem 'firmware/x.cpp:LINE: what' at the template line that wrote it."""
    match = _LINT_PROBLEM.match(problem)
    if match is None:
        return problem
    return f"{maps.where(match.group('file'), int(match.group('line')))}: {match.group('what')}"
