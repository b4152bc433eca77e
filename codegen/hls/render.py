"""Jinja2 rendering of the C++ and TCL templates, with errors that name the template and line.

Hardware engineers edit these templates, so a mistake must read as
"templates/kernels/conv.cpp.j2 line 42: 'PEE' is undefined", never as a Jinja traceback.
Undefined variables are errors (StrictUndefined): a typo cannot silently render as nothing.

Every rendered text also knows where each of its lines came from (`RenderedText.origins`), so that
a compiler error or a lint finding in generated code can point at the template line that wrote
it: the `_LineMarks` extension puts an invisible mark before every newline of template text (the
lexer has already applied whitespace control, so the marks change nothing), and rendering strips
the marks again while noting, for every output line, the template and line of its newline.
"""
from __future__ import annotations

import re
import traceback
from pathlib import Path

import jinja2
from jinja2.ext import Extension
from jinja2.lexer import Token
from jinja2.loaders import split_template_path
from jinja2.sandbox import SandboxedEnvironment

from ..confine import confined_path
from ..errors import QgenError
from ..safe_io import read_input_bytes

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO_ROOT / "templates"
TCL_DIR = REPO_ROOT / "tcl"


MAX_TEMPLATE_BYTES = 4 << 20


class ConfinedLoader(jinja2.BaseLoader):
    """Jinja's FileSystemLoader, except that a template (or an included file) must be a regular
    file that resolves inside the folder it was found in: a symbolic link in an edited template
    folder must not copy a file from elsewhere into generated code."""

    def __init__(self, folders: list[Path]):
        self.folders = [Path(f) for f in folders]

    def get_source(self, environment, template: str):
        pieces = split_template_path(template)       # refuses '..'
        for folder in self.folders:
            path = folder.joinpath(*pieces)
            if not path.exists() and not path.is_symlink():
                continue
            real = confined_path(folder, Path(*pieces), "template")
            source = read_input_bytes(real, "template", MAX_TEMPLATE_BYTES)
            try:
                text = source.decode("utf-8")
            except UnicodeDecodeError:
                raise QgenError(f"template '{path}' is not UTF-8 text") from None
            mtime = real.stat().st_mtime
            return text, str(path), lambda: real.is_file() and real.stat().st_mtime == mtime
        raise jinja2.TemplateNotFound(template)


_MARK = re.compile("\x1e(\\d+):(\\d+)\x1f")
# blocks whose text is captured as a value rather than written out: marks there could change what
# a filter computes on it (|length), so their lines take the place where the value is written
_CAPTURING = {"set", "filter", "macro", "call"}


class _LineMarks(Extension):
    """Marks every newline of template text with (template number, line), see the module doc."""

    def __init__(self, environment):
        super().__init__(environment)
        self.templates: list[str] = []        # template names; a mark holds an index into this

    def _index(self, name: str) -> int:
        if name not in self.templates:
            self.templates.append(name)
        return self.templates.index(name)

    def filter_stream(self, stream):
        index = self._index(stream.name or "?")
        captured = 0
        statement: list[Token] = []
        for token in stream:
            if statement or token.type == "block_begin":
                statement.append(token)
                if token.type == "block_end":
                    captured += _capture_change(statement)
                    yield from statement
                    statement = []
                continue
            if token.type == "data" and not captured and "\n" in token.value:
                lines = token.value.split("\n")
                marked = "".join(f"{text}\x1e{index}:{token.lineno + k}\x1f\n" for k, text in enumerate(lines[:-1]))
                token = Token(token.lineno, "data", marked + lines[-1])
            yield token
        yield from statement


def _capture_change(statement: list[Token]) -> int:
    """+1 when a statement opens a capturing block, -1 when it closes one, else 0."""
    names = [t.value for t in statement if t.type == "name"]
    if not names:
        return 0
    if names[0] in _CAPTURING:
        return 0 if names[0] == "set" and any(t.type == "assign" for t in statement) else 1
    return -1 if names[0] in {f"end{word}" for word in _CAPTURING} else 0


class RenderedText(str):
    """Rendered text that remembers, for each of its lines, the (template path, line) it came from.
    The lines of a multi-line value take the line where the value is written; None is left only
    for trailing lines that no template newline follows."""
    origins: list


def _unmark(text: str, templates: list[str]) -> RenderedText:
    lines = text.split("\n")
    origins: list = []
    waiting = 0
    for i, line in enumerate(lines):
        marks = _MARK.findall(line)
        if marks:
            lines[i] = _MARK.sub("", line)
            origin = (templates[int(marks[0][0])], int(marks[0][1]))
            # a value's own lines end where its template line ends
            origins.extend([origin] * (waiting + 1))
            waiting = 0
        else:
            waiting += 1
    origins.extend([None] * waiting)
    rendered = RenderedText("\n".join(lines))
    rendered.origins = origins
    return rendered


class Renderer:
    def __init__(self, templates_dir: str | Path | None = None, tcl_dir: str | Path | None = None):
        self.templates_dir = Path(templates_dir) if templates_dir else TEMPLATES_DIR
        self.tcl_dir = Path(tcl_dir) if tcl_dir else TCL_DIR
        for folder in (self.templates_dir, self.tcl_dir):
            if not folder.is_dir():
                raise QgenError(f"template folder '{folder}' does not exist")
        # sandboxed: an edited template is input too, and must not reach Python objects or the shell
        self.env = SandboxedEnvironment(
            loader=ConfinedLoader([self.templates_dir, self.tcl_dir]),
            undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
            extensions=[_LineMarks])
        self._marks = next(e for e in self.env.extensions.values() if isinstance(e, _LineMarks))
        self._edited: dict[str, bool] = {}

    def _where(self, name: str) -> str:
        for folder in (self.templates_dir, self.tcl_dir):
            if (folder / name).is_file():
                return str(folder / name)
        return name

    def edited(self, path: str) -> bool:
        """Does the template at `path` (as in `origins`) differ from the shipped one of its name?"""
        if path not in self._edited:
            self._edited[path] = _differs_from_shipped(Path(path), self.templates_dir, self.tcl_dir)
        return self._edited[path]

    def render(self, name: str, context: dict) -> RenderedText:
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise QgenError(f"template '{name}' not found in {self.templates_dir} or {self.tcl_dir}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise QgenError(f"{self._where(exc.name or name)} line {exc.lineno}: {exc.message}") from None
        try:
            text = template.render(**context)
        except QgenError:
            raise
        except jinja2.TemplateNotFound as exc:
            raise QgenError(f"{self._where(name)} line {_template_line(exc, template)}: included template "
                            f"'{exc.name}' is not in {self.templates_dir} or {self.tcl_dir} (templates can only "
                            "include files inside those folders)") from None
        except jinja2.exceptions.SecurityError as exc:
            raise QgenError(f"{self._where(name)} line {_template_line(exc, template)}: not allowed in a "
                            f"template: {exc}") from None
        except jinja2.TemplateError as exc:
            raise QgenError(f"{self._where(name)} line {_template_line(exc, template)}: {exc.message}") from None
        except Exception as exc:  # e.g. arithmetic on a wrong type inside an edited template
            raise QgenError(f"{self._where(name)} line {_template_line(exc, template)}: "
                            f"{type(exc).__name__}: {exc}") from None
        return _unmark(text, [self._where(t) for t in self._marks.templates])


def _template_line(exc: BaseException, template: jinja2.Template) -> str:
    """The template line being rendered when `exc` was raised (Jinja maps its frames back to the source)."""
    filename = template.filename
    line = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename or frame.filename.endswith(".j2"):
            line = str(frame.lineno)
    return line


def _differs_from_shipped(path: Path, templates_dir: Path, tcl_dir: Path) -> bool:
    for folder, shipped in ((templates_dir, TEMPLATES_DIR), (tcl_dir, TCL_DIR)):
        try:
            name = path.resolve().relative_to(folder.resolve())
        except ValueError:
            continue
        try:
            return (shipped / name).read_bytes() != path.read_bytes()
        except OSError:
            return True
    return True
