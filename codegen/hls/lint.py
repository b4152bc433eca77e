"""Checks that generated kernel sources stay inside the synthesizable subset of C++.

Run on every generated project, so an edited template that slips in dynamic memory, recursion,
standard containers or run-time array sizes is refused before anyone waits for synthesis.
The testbench (tb/) is exempt: it runs only on the host.
"""
from __future__ import annotations

import re
from pathlib import Path

RULES = [
    (re.compile(r"\bnew\s+\w|\bdelete\b|\b(malloc|calloc|realloc|free)\s*\("), "dynamic memory"),
    (re.compile(r"\bstd::(vector|map|list|deque|set|unordered_\w+|string|unique_ptr|shared_ptr)\b"),
     "standard-library container"),
    (re.compile(r"#\s*include\s*<(vector|map|list|deque|set|string|memory|unordered_\w+)>"),
     "standard-library container header"),
    (re.compile(r"\b(printf|fprintf|cout|cerr|fopen)\b"), "host I/O in a kernel"),
    (re.compile(r"\b(try|catch|throw)\b"), "exceptions"),
]
# an array declaration whose size is not an integer literal (or constant expression of literals)
ARRAY_DECL = re.compile(r"^\s*(?:(?:[A-Za-z_][\w:]*(?:<[^;]*?>|\([^;]*?\))?)\s+)+(\w+)((?:\[[^\]]*\])+)\s*[;=]")
FUNCTION_DEF = re.compile(r"^\s*(?:void|[\w:<>]+)\s+(\w+)\s*\([^;]*\)\s*\{\s*$")


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def lint_source(path: Path, text: str) -> list[str]:
    problems = []
    lines = _strip_comments(text).splitlines()
    current_function = None
    for number, line in enumerate(lines, 1):
        where = f"{path}:{number}"
        for pattern, what in RULES:
            if pattern.search(line):
                problems.append(f"{where}: {what}: {line.strip()}")
        decl = ARRAY_DECL.match(line)
        if decl:
            for size in re.findall(r"\[([^\]]*)\]", decl.group(2)):
                # literals, or UPPER_CASE compile-time constants (template parameters)
                if not re.fullmatch(r"[\d\s+\-*/()A-Z_]+", size):
                    problems.append(f"{where}: array size '{size}' is not a compile-time constant")
        fdef = FUNCTION_DEF.match(line)
        if fdef:
            current_function = fdef.group(1)
        elif current_function and re.search(rf"\b{current_function}\s*\(", line):
            problems.append(f"{where}: recursion: {current_function} calls itself")
    return problems


def lint_project(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "firmware").rglob("*")):
        if path.suffix in (".cpp", ".h", ".hpp"):
            problems += lint_source(path.relative_to(root), path.read_text())
    return problems
