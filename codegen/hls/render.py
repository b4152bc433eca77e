"""Jinja2 rendering of the C++ and TCL templates, with errors that name the template and line.

Hardware engineers edit these templates, so a mistake must read as
"templates/kernels/conv.cpp.j2 line 42: 'PEE' is undefined", never as a Jinja traceback.
Undefined variables are errors (StrictUndefined): a typo cannot silently render as nothing.
"""
from __future__ import annotations

import traceback
from pathlib import Path

import jinja2
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
            undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)

    def _where(self, name: str) -> str:
        for folder in (self.templates_dir, self.tcl_dir):
            if (folder / name).is_file():
                return str(folder / name)
        return name

    def render(self, name: str, context: dict) -> str:
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise QgenError(f"template '{name}' not found in {self.templates_dir} or {self.tcl_dir}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise QgenError(f"{self._where(exc.name or name)} line {exc.lineno}: {exc.message}") from None
        try:
            return template.render(**context)
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


def _template_line(exc: BaseException, template: jinja2.Template) -> str:
    """The template line being rendered when `exc` was raised (Jinja maps its frames back to the source)."""
    filename = template.filename
    line = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename or frame.filename.endswith(".j2"):
            line = str(frame.lineno)
    return line
