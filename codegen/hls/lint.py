"""Checks that generated kernel sources stay inside the synthesizable subset of C++.

Run on every generated project, so an edited template that slips in recursion, dynamic memory,
standard containers, virtual calls, host I/O, exceptions or run-time array sizes is refused before
anyone waits for synthesis. The sources are read as C++ by clang (libclang's Python bindings), not
by patterns: a `static` function, a one-line body, a brace on the next line or two functions calling
each other are all the same call graph to a parser. The testbench (tb/) is exempt: it runs only on
the host.

All kernels are parsed as one translation unit (each includes its own headers; the shared ones
have include guards), which costs one parse of ap_int.h instead of one per kernel. If that unit
does not compile (e.g. two edited kernels define the same helper), each source is parsed alone.
Initializers made only of integer literals (the weight and threshold codes Python writes, about
half of the parse) reach clang as empty braces on as many lines: numbers cannot break the subset,
and every other token, and every line number, stays as written.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from ..errors import QgenError
from ..toolchain import ap_types_dir

DYNAMIC_MEMORY = {"malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign"}
HOST_IO = {"printf", "fprintf", "sprintf", "snprintf", "puts", "fputs", "putchar", "fopen", "fclose", "fread",
           "fwrite", "fgets", "scanf", "fscanf", "getchar", "perror", "system", "exit", "abort"}
HOST_STREAMS = {"cout", "cerr", "clog", "cin"}
STD_CONTAINERS = {"vector", "map", "multimap", "list", "forward_list", "deque", "set", "multiset", "queue",
                  "priority_queue", "stack", "unordered_map", "unordered_set", "unordered_multimap",
                  "unordered_multiset", "basic_string", "string", "unique_ptr", "shared_ptr", "function"}
UNITY = "qgen_lint_unity.cpp"


def _clang():
    try:
        import clang.cindex as cindex
    except ImportError:
        raise QgenError("the synthesizable-subset lint needs libclang: pip install libclang") from None
    return cindex


@lru_cache(maxsize=1)
def _system_includes() -> tuple[str, ...]:
    """The compiler's own header folder (stddef.h...), which the libclang wheel does not ship."""
    try:
        out = subprocess.run(["g++", "-print-file-name=include"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ()
    return ("-isystem", out) if out and Path(out).is_dir() else ()


def _args(root: Path) -> list[str]:
    return ["-x", "c++", "-std=c++14", f"-I{ap_types_dir()}", f"-I{root / 'firmware'}", *_system_includes()]


def _std_name(cursor) -> bool:
    """Is `cursor` declared (directly or nested) in namespace std?"""
    parent = cursor.semantic_parent
    while parent is not None and parent.kind.name != "TRANSLATION_UNIT":
        if parent.kind.name == "NAMESPACE" and parent.spelling == "std":
            return True
        parent = parent.semantic_parent
    return False


class _Checker:
    def __init__(self, cindex, root: Path):
        self.ck = cindex.CursorKind
        self.tk = cindex.TypeKind
        self.root = root
        self.firmware = (root / "firmware").resolve()
        self.problems: dict[tuple[str, int, str], None] = {}   # ordered, without duplicates
        self.calls: dict[str, set[str]] = {}      # caller USR -> callee USRs (project functions only)
        self.names: dict[str, tuple[str, str, int]] = {}       # USR -> (name, file, line)

    def _where(self, cursor) -> tuple[str, int] | None:
        location = cursor.location
        if location.file is None:
            return None
        relative = self._relative(location.file.name)
        return None if relative is None else (relative, location.line)

    @lru_cache(maxsize=None)
    def _relative(self, filename: str) -> str | None:
        """The project-relative path of a file of the project's firmware; None for ap_types,
        hls_stream and system headers."""
        path = Path(filename).resolve()
        if self.firmware not in path.parents:
            return None
        return path.relative_to(self.root.resolve()).as_posix()

    def report(self, cursor, what: str) -> None:
        where = self._where(cursor)
        if where is not None:
            self.problems[(where[0], where[1], what)] = None

    def visit(self, cursor, function: str | None = None) -> None:
        ck = self.ck
        for child in cursor.get_children():
            if self._where(child) is None and child.kind != ck.UNEXPOSED_DECL:
                if child.kind in (ck.NAMESPACE, ck.LINKAGE_SPEC):
                    self.visit(child, function)
                continue
            kind = child.kind
            if kind == ck.INIT_LIST_EXPR:
                continue                          # constant tables (weights, thresholds): nothing to check
            current = function
            if kind in (ck.FUNCTION_DECL, ck.CXX_METHOD, ck.FUNCTION_TEMPLATE, ck.CONSTRUCTOR,
                        ck.DESTRUCTOR) and child.is_definition():
                current = child.get_usr()
                where = self._where(child)
                self.names[current] = (child.spelling, *where)
                self.calls.setdefault(current, set())
                if kind == ck.CXX_METHOD and child.is_virtual_method():
                    self.report(child, f"virtual function {child.spelling}")
            self.check(child, current)
            self.visit(child, current)

    def check(self, node, function: str | None) -> None:
        ck, kind = self.ck, node.kind
        if kind in (ck.CXX_NEW_EXPR, ck.CXX_DELETE_EXPR):
            self.report(node, "dynamic memory (new/delete)")
        elif kind in (ck.CXX_TRY_STMT, ck.CXX_THROW_EXPR):
            self.report(node, "exceptions (try/throw)")
        elif kind == ck.CALL_EXPR:
            callee = node.referenced
            name = callee.spelling if callee is not None else node.spelling
            if name in DYNAMIC_MEMORY:
                self.report(node, f"dynamic memory ({name})")
            elif name in HOST_IO:
                self.report(node, f"host I/O in a kernel ({name})")
            if callee is not None and function is not None and self._where(callee) is not None:
                self.calls[function].add(callee.canonical.get_usr() or callee.get_usr())
                if callee.kind == ck.CXX_METHOD and callee.is_virtual_method():
                    self.report(node, f"virtual call ({name})")
        elif kind == ck.DECL_REF_EXPR and node.referenced is not None:
            ref = node.referenced
            if ref.spelling in HOST_STREAMS and _std_name(ref):
                self.report(node, f"host I/O in a kernel (std::{ref.spelling})")
        elif kind in (ck.TYPE_REF, ck.TEMPLATE_REF) and node.referenced is not None:
            ref = node.referenced
            if ref.spelling in STD_CONTAINERS and _std_name(ref):
                self.report(node, f"standard-library container (std::{ref.spelling})")
        elif kind in (ck.VAR_DECL, ck.FIELD_DECL, ck.PARM_DECL):
            if self._variable_array(node.type):
                self.report(node, f"array '{node.spelling}' has a run-time size")

    def _variable_array(self, type_) -> bool:
        while type_.kind in (self.tk.CONSTANTARRAY, self.tk.VARIABLEARRAY, self.tk.INCOMPLETEARRAY,
                             self.tk.DEPENDENTSIZEDARRAY):
            if type_.kind == self.tk.VARIABLEARRAY:
                return True
            type_ = type_.element_type
        return False

    def recursion(self) -> None:
        """Every cycle of the call graph (a function calling itself, or through others)."""
        state: dict[str, int] = {}                # 1 = on the stack, 2 = done
        stack: list[str] = []

        def walk(usr: str) -> None:
            state[usr] = 1
            stack.append(usr)
            for callee in sorted(self.calls.get(usr, ())):
                if state.get(callee) == 1:
                    cycle = stack[stack.index(callee):] + [callee]
                    names = " -> ".join(self.names.get(u, (u,))[0] for u in cycle)
                    name, file, line = self.names.get(callee, (callee, "?", 0))
                    what = f"recursion: {name} calls itself" if len(cycle) == 2 else f"mutual recursion: {names}"
                    self.problems[(file, line, what)] = None
                elif state.get(callee) is None and callee in self.calls:
                    walk(callee)
            stack.pop()
            state[usr] = 2

        for usr in sorted(self.calls):
            if usr not in state:
                walk(usr)


# `= {` ... `};` holding nothing but integers, commas, braces and white space
NUMERIC_INITIALIZER = re.compile(r"=\s*\{[-+0-9,\s{}]*\};")


def _without_numbers(text: str) -> str:
    return NUMERIC_INITIALIZER.sub(lambda m: "= {" + "\n" * m.group().count("\n") + "};", text)


def _headers_without_numbers(root: Path) -> list[tuple[str, str]]:
    """The project's headers as clang should read them (module doc), as libclang's unsaved files."""
    unsaved = []
    for header in sorted((root / "firmware").rglob("*.h")):
        text = header.read_text(errors="replace")
        light = _without_numbers(text)
        if light != text:
            unsaved.append((str(header), light))
    return unsaved


def _parse(cindex, index, path: Path, args: list[str], unsaved=None):
    tu = index.parse(str(path), args=args, unsaved_files=unsaved)
    errors = [d for d in tu.diagnostics if d.severity >= cindex.Diagnostic.Error]
    return tu, errors


def _precompiled_common(cindex, index, root: Path, args: list[str], tmp: Path) -> list[str]:
    """Precompile the shared header (ap_int.h, hls_stream.h) once for the per-file parses."""
    header = root / "firmware" / "qgen_common.h"
    if not header.is_file():
        return []
    tu = index.parse(str(header), args=["-x", "c++-header", *args[2:]])
    if any(d.severity >= cindex.Diagnostic.Error for d in tu.diagnostics):
        return []
    pch = tmp / "qgen_common.pch"
    tu.save(str(pch))
    return ["-include-pch", str(pch)]


def parse_kernels(root: Path) -> list:
    """The project's kernel sources as clang translation units (one unit for all, or one each when
    they do not compile together); shared by the lint and the hazard check (hls/hazards.py)."""
    cindex = _clang()
    root = Path(root)
    sources = sorted((root / "firmware").rglob("*.cpp"))
    if not sources:
        return []
    index = cindex.Index.create()
    args = _args(root)
    unity_path = root / "firmware" / UNITY
    unity = "".join(f'#include "{s.relative_to(root / "firmware").as_posix()}"\n' for s in sources)
    headers = _headers_without_numbers(root)
    tu, errors = _parse(cindex, index, unity_path, args, [(str(unity_path), unity), *headers])
    if not errors:
        return [tu]
    units = []      # the kernels do not share one unit: read each on its own
    with tempfile.TemporaryDirectory(prefix="qgen_lint_") as tmp:
        args = args + _precompiled_common(cindex, index, root, args, Path(tmp))
        for source in sources:
            tu, errors = _parse(cindex, index, source, args, headers)
            fatal = [d for d in errors if d.severity >= cindex.Diagnostic.Fatal]
            if fatal:
                raise QgenError(f"the lint cannot read {source.relative_to(root)}: {fatal[0].spelling}")
            units.append(tu)
    return units


def lint_project(root: Path, units: list | None = None) -> list[str]:
    """Problems as 'file:line: what', in file order; empty when the kernels are synthesizable.
    `units`: the kernels already parsed (parse_kernels), else they are parsed here."""
    cindex = _clang()
    root = Path(root)
    units = parse_kernels(root) if units is None else units
    checker = _Checker(cindex, root)
    for tu in units:
        checker.visit(tu.cursor)
    checker.recursion()
    return [f"{file}:{line}: {what}" for file, line, what in sorted(checker.problems, key=lambda p: (p[0], p[1]))]


def lint_source(path: Path, text: str) -> list[str]:
    """Lint one kernel source given as text (as if it were `firmware/<name>` of a project)."""
    with tempfile.TemporaryDirectory(prefix="qgen_lint_") as tmp:
        root = Path(tmp)
        target = root / "firmware" / Path(path).name
        target.parent.mkdir(parents=True)
        target.write_text(text)
        return [p.replace(f"firmware/{target.name}", str(path)) for p in lint_project(root)]
