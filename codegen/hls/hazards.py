"""Static hazard check of the generated kernels: what C-simulation cannot see and Vitis may build
wrong or slow.

Every loop carrying `#pragma HLS PIPELINE` is read with the lint's clang parser (hls/lint.py), the
way HLS builds it: loops inside it are unrolled (copies that touch different memory banks or
addresses are enumerated, copies of the same access merge), branches of an `if` or `?:` are
alternatives (the busier one counts), and branches whose condition is decided by an unrolled loop
index drop out. Per iteration of the pipelined loop it finds:

- memory ports: accesses to each memory (an array not completely partitioned; each bank of a
  partitioned dimension on its own; elements of one reshaped word are one access) against its
  ports: a RAM has two (one write at most with BIND_STORAGE ram_2p/ram_s2p, one in all with
  ram_1p), a ROM two reads. More than that and II=1 fails;
- a stream read or written more than once;
- a pipelined loop with one trip, and loops inside it without a constant trip count;
- every DEPENDENCE pragma against the distance its op computed (hls/dependence.py): `inter false`
  only where the distance exceeds the bound, `inter true distance=d` only with d no larger than the
  true distance; any other `false` (intra, class-wide, an array qgen has no figure for) cannot be
  checked and is reported.

Each hazard is 'file:line: what'. The analysis is conservative (an access it cannot place in a
bank counts against every bank) and covers what qgen's templates and reasonable edits of them do.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .dependence import CarriedBuffer

PRAGMA = re.compile(r"^\s*#\s*pragma\s+HLS\s+(.*?)\s*(?://.*)?$", re.IGNORECASE)
LOOPS = ("FOR_STMT", "WHILE_STMT", "DO_STMT", "CXX_FOR_RANGE_STMT")
ASSIGNMENTS = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="}
STREAM_READS = {"read", "read_nb", "operator>>"}
STREAM_WRITES = {"write", "write_nb", "operator<<"}
MAX_COPIES = 4096            # unrolled copies enumerated per loop nest; beyond, accesses count once per site
TRANSPARENT = ("UNEXPOSED_EXPR", "PAREN_EXPR", "CSTYLE_CAST_EXPR", "CXX_FUNCTIONAL_CAST_EXPR",
               "CXX_STATIC_CAST_EXPR")

# ports per BIND_STORAGE type: (accesses in all, writes) per cycle; None = no limit
PORTS = {"ram_1p": (1, 1), "ram_2p": (2, 1), "ram_s2p": (2, 1), "ram_t2p": (2, 2), "ram_1wnr": (None, 1),
         "rom_1p": (1, 0), "rom_2p": (2, 0), "rom_np": (None, 0)}
DEFAULT_RAM, DEFAULT_ROM = (2, 2), (2, 0)       # block RAM: two ports, each may read or write


# ---- pragmas ------------------------------------------------------------------------------------

@dataclass
class Pragma:
    line: int
    directive: str                  # upper case: PIPELINE, DEPENDENCE, ARRAY_PARTITION, ...
    options: dict                   # lower-case keys; a bare word maps to True

    def get(self, key: str, default=None):
        return self.options.get(key, default)


def parse_pragmas(text: str) -> list[Pragma]:
    """Every `#pragma HLS` of a source, with its line (continuation lines joined)."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        start, line = i + 1, lines[i]
        while line.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line.rstrip()[:-1] + " " + lines[i]
        i += 1
        m = PRAGMA.match(line)
        if not m or not m.group(1):
            continue
        words = m.group(1).replace(",", " ").split()
        options = {}
        for word in words[1:]:
            key, sep, value = word.partition("=")
            options[key.lower()] = value if sep else True
        out.append(Pragma(start, words[0].upper(), options))
    return out


# ---- a light copy of the clang tree -------------------------------------------------------------

@dataclass(eq=False)
class Node:
    kind: str
    spelling: str
    line: int
    offset: int
    children: list["Node"] = field(default_factory=list)
    op: str = ""                    # operator of BINARY/UNARY/COMPOUND_ASSIGNMENT operators
    value: int | None = None        # integer and bool literals
    ref: object = None              # DECL_REF_EXPR / MEMBER_REF_EXPR: the referenced cursor
    text: str = ""                  # the expression's tokens (index expressions)

    def names(self) -> set[str]:
        """Every variable name referenced below this node."""
        out = {self.spelling} if self.kind == "DECL_REF_EXPR" else set()
        for child in self.children:
            out |= child.names()
        return out


def _operator(cursor, children) -> str:
    tokens = list(cursor.get_tokens())
    if cursor.kind.name == "UNARY_OPERATOR":
        if not children or not tokens:
            return ""
        first = tokens[0]
        return first.spelling if first.extent.start.offset < children[0].extent.start.offset else tokens[-1].spelling
    if len(children) < 2:
        return ""
    end = children[0].extent.end.offset
    for t in tokens:
        if t.extent.start.offset >= end:
            return t.spelling
    return ""


def light(cursor) -> Node:
    kind = cursor.kind.name
    children = list(cursor.get_children())
    node = Node(kind, cursor.spelling, cursor.location.line, cursor.extent.start.offset)
    if kind in ("BINARY_OPERATOR", "UNARY_OPERATOR", "COMPOUND_ASSIGNMENT_OPERATOR"):
        node.op = _operator(cursor, children)
    elif kind == "INTEGER_LITERAL":
        spelling = "".join(t.spelling for t in cursor.get_tokens())
        try:
            node.value = int(spelling.rstrip("uUlL"), 0)
        except ValueError:
            node.value = None
    elif kind == "CXX_BOOL_LITERAL_EXPR":
        node.value = int("".join(t.spelling for t in cursor.get_tokens()) == "true")
    elif kind in ("DECL_REF_EXPR", "MEMBER_REF_EXPR"):
        node.ref = cursor.referenced
    elif kind == "ARRAY_SUBSCRIPT_EXPR" and len(children) == 2:
        node.text = " ".join(t.spelling for t in children[1].get_tokens())
    node.children = [light(c) for c in children]
    return node


def strip(node: Node) -> Node:
    while node.kind in TRANSPARENT and len(node.children) == 1:
        node = node.children[0]
    return node


# ---- constant evaluation under an environment of unrolled loop indices -------------------------

_BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
           "/": lambda a, b: int(a / b) if b else None, "%": lambda a, b: int(math.fmod(a, b)) if b else None,
           "<<": lambda a, b: a << b if 0 <= b < 64 else None, ">>": lambda a, b: a >> b if 0 <= b < 64 else None,
           "==": lambda a, b: int(a == b), "!=": lambda a, b: int(a != b), "<": lambda a, b: int(a < b),
           "<=": lambda a, b: int(a <= b), ">": lambda a, b: int(a > b), ">=": lambda a, b: int(a >= b),
           "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b}


def evaluate(node: Node, env: dict[str, int], consts: dict[str, Node]) -> int | None:
    """The integer value of an expression of literals, unrolled loop indices and constants, else None."""
    node = strip(node)
    kind = node.kind
    if node.value is not None:
        return node.value
    if kind == "DECL_REF_EXPR":
        if node.spelling in env:
            return env[node.spelling]
        init = consts.get(node.spelling)
        return None if init is None else evaluate(init, env, consts)
    if kind == "BINARY_OPERATOR" and len(node.children) == 2:
        if node.op in ("&&", "||"):
            a = evaluate(node.children[0], env, consts)
            if a is not None and bool(a) == (node.op == "||"):
                return int(bool(a))
            b = evaluate(node.children[1], env, consts)
            if a is None or b is None:
                return int(bool(b)) if b is not None and bool(b) == (node.op == "||") else None
            return int(bool(b))
        a, b = (evaluate(c, env, consts) for c in node.children)
        fn = _BINARY.get(node.op)
        return None if a is None or b is None or fn is None else fn(a, b)
    if kind == "UNARY_OPERATOR" and len(node.children) == 1:
        a = evaluate(node.children[0], env, consts)
        if a is None:
            return None
        return {"-": -a, "+": a, "!": int(not a), "~": ~a}.get(node.op)
    if kind == "CONDITIONAL_OPERATOR" and len(node.children) == 3:
        cond = evaluate(node.children[0], env, consts)
        return None if cond is None else evaluate(node.children[1 if cond else 2], env, consts)
    return None


# ---- arrays and their storage -------------------------------------------------------------------

@dataclass
class Array:
    name: str
    dims: list[int]
    const: bool
    partition: dict[int, tuple[str, int]] = field(default_factory=dict)   # dim (1-based) -> (type, factor)
    reshape: dict[int, tuple[str, int]] = field(default_factory=dict)
    storage: str | None = None          # BIND_STORAGE type

    def _complete(self, table: dict, dim: int) -> bool:
        return table.get(dim, ("", 0))[0] == "complete"

    @property
    def registers(self) -> bool:
        """Every dimension completely partitioned (or all but reshaped ones: one register word)."""
        return all(self._complete(self.partition, d) or self._complete(self.reshape, d)
                   for d in range(1, len(self.dims) + 1)) and self.storage != "fifo"

    def ports(self) -> tuple[int | None, int]:
        if self.storage in PORTS:
            return PORTS[self.storage]
        return DEFAULT_ROM if self.const else DEFAULT_RAM

    def bank_of(self, dim: int, index: int | None):
        """The bank an index of dimension `dim` selects; None when unknown."""
        kind, factor = self.partition[dim]
        if index is None:
            return None
        if kind == "complete":
            return index
        if kind == "cyclic":
            return index % factor
        return index // max(1, -(-self.dims[dim - 1] // factor))


def _array_shape(type_) -> list[int] | None:
    dims = []
    while type_.kind.name == "CONSTANTARRAY":
        dims.append(type_.element_count)
        type_ = type_.element_type
    return dims or None


def _apply_array_pragma(array: Array, pragma: Pragma) -> None:
    kind = "complete"
    for word in ("complete", "cyclic", "block"):
        if pragma.get(word) is True or pragma.get("type") == word:
            kind = word
    try:
        factor = int(pragma.get("factor", 0) or 0)
        dim = int(pragma.get("dim", 1))
    except ValueError:
        return
    dims = range(1, len(array.dims) + 1) if dim == 0 else [dim]
    table = array.partition if pragma.directive == "ARRAY_PARTITION" else array.reshape
    for d in dims:
        if 1 <= d <= len(array.dims) and not pragma.get("off"):
            table[d] = (kind, factor)


# ---- accesses of one iteration ------------------------------------------------------------------

@dataclass
class Accesses:
    memory: dict = field(default_factory=dict)    # (array, bank) -> {(kind, site, word)}
    streams: dict = field(default_factory=dict)   # (stream, kind) -> count
    sites: dict = field(default_factory=dict)     # first line of each (array|stream)

    def then(self, other: "Accesses") -> "Accesses":
        """Both happen in the iteration."""
        out = Accesses({k: set(v) for k, v in self.memory.items()}, dict(self.streams), dict(self.sites))
        for k, v in other.memory.items():
            out.memory.setdefault(k, set()).update(v)
        for k, v in other.streams.items():
            out.streams[k] = out.streams.get(k, 0) + v
        for k, v in other.sites.items():
            out.sites.setdefault(k, v)
        return out

    def either(self, other: "Accesses") -> "Accesses":
        """One or the other happens (branches of an if)."""
        out = Accesses({}, {}, dict(self.sites))
        for k in set(self.memory) | set(other.memory):
            a, b = self.memory.get(k, set()), other.memory.get(k, set())
            out.memory[k] = set(a if len(a) >= len(b) else b)
        for k in set(self.streams) | set(other.streams):
            out.streams[k] = max(self.streams.get(k, 0), other.streams.get(k, 0))
        for k, v in other.sites.items():
            out.sites.setdefault(k, v)
        return out

    def times(self, n: int) -> "Accesses":
        """n identical copies (an unrolled loop whose index no access depends on)."""
        return Accesses({k: set(v) for k, v in self.memory.items()}, {k: v * n for k, v in self.streams.items()},
                        dict(self.sites))


def _loop_header(loop: Node, env, consts) -> tuple[str, range] | None:
    """(index name, values) of `for (int i = a; i < b; i += s)` with constant bounds, else None."""
    if loop.kind != "FOR_STMT" or len(loop.children) < 4:
        return None
    init, cond, inc = loop.children[0], strip(loop.children[1]), strip(loop.children[2])
    var, start = None, None
    if init.kind == "DECL_STMT" and init.children and init.children[0].kind == "VAR_DECL":
        decl = init.children[0]
        var = decl.spelling
        start = evaluate(decl.children[-1], env, consts) if decl.children else None
    elif init.kind in ("BINARY_OPERATOR", "CALL_EXPR") and init.op == "=":
        var = strip(init.children[0]).spelling
        start = evaluate(init.children[1], env, consts)
    if var is None or start is None or cond.kind != "BINARY_OPERATOR" or strip(cond.children[0]).spelling != var:
        return None
    bound = evaluate(cond.children[1], env, consts)
    step = None
    if inc.kind == "UNARY_OPERATOR" and inc.op in ("++", "--"):
        step = 1 if inc.op == "++" else -1
    elif inc.kind == "COMPOUND_ASSIGNMENT_OPERATOR" and inc.op in ("+=", "-="):
        step = evaluate(inc.children[1], env, consts)
        step = None if step is None else (step if inc.op == "+=" else -step)
    if bound is None or not step:
        return None
    if cond.op in ("<", "<=") and step > 0:
        values = range(start, bound + (cond.op == "<="), step)
    elif cond.op in (">", ">=") and step < 0:
        values = range(start, bound - (cond.op == ">="), step)
    elif cond.op == "!=" and (bound - start) % step == 0 and (bound - start) * step >= 0:
        values = range(start, bound, step)
    else:
        return None
    return var, values


class _Kernel:
    """The hazard analysis of one kernel function."""

    def __init__(self, file: str, arrays: dict[str, Array], streams: set[str], consts: dict[str, Node]):
        self.file, self.arrays, self.streams, self.consts = file, arrays, streams, consts
        self.hazards: list[tuple[int, str]] = []
        self._relevant_names: dict[int, set[str]] = {}

    def relevant(self, body: Node) -> set[str]:
        """Names that pick a memory bank or word, or decide a branch, below `body`: the loop indices
        whose unrolled copies must be told apart."""
        if id(body) not in self._relevant_names:
            self._relevant_names[id(body)] = self._relevant(body, set())
        return self._relevant_names[id(body)]

    def _relevant(self, node: Node, out: set[str]) -> set[str]:
        kind = node.kind
        if kind == "ARRAY_SUBSCRIPT_EXPR":
            array, indices = self._chain(node)
            if array is not None and not array.registers:
                for dim, index in enumerate(indices, start=1):
                    if dim not in array.reshape:
                        out |= index.names()
        elif kind in ("IF_STMT", "CONDITIONAL_OPERATOR") and node.children:
            out |= node.children[0].names()
        for child in node.children:
            self._relevant(child, out)
        return out

    def _chain(self, node: Node) -> tuple[Array | None, list[Node]]:
        """The array and index expressions of a subscript chain a[i][j]..."""
        indices = []
        while node.kind == "ARRAY_SUBSCRIPT_EXPR" and len(node.children) == 2:
            indices.append(node.children[1])
            node = strip(node.children[0])
        if node.kind != "DECL_REF_EXPR":
            return None, []
        return self.arrays.get(node.spelling), indices[::-1]

    def _access(self, node: Node, kind: str, env: dict[str, int]) -> Accesses:
        array, indices = self._chain(node)
        out = Accesses()
        if array is None or array.registers:
            return out
        bank, word = [], []
        for dim, index in enumerate(indices, start=1):
            if dim in array.reshape and array.reshape[dim][0] == "complete":
                continue
            value = evaluate(index, env, self.consts)
            if dim in array.partition:
                bank.append(array.bank_of(dim, value))
            else:
                used = sorted((n, env[n]) for n in index.names() if n in env)
                word.append(value if value is not None else (" ".join(_tokens(index)), tuple(used)))
        if len(indices) < len(array.dims):      # a row handed on whole: any bank, any word
            bank = [None] * len(array.partition)
            word.append(("whole", node.offset))
        out.memory[(array.name, tuple(bank))] = {(kind, node.offset, tuple(word))}
        out.sites[array.name] = node.line
        return out

    def visit(self, node: Node, env: dict[str, int]) -> Accesses:
        kind = node.kind
        if kind in ("IF_STMT", "CONDITIONAL_OPERATOR") and len(node.children) >= 2:
            cond = node.children[0]
            acc = self.visit(cond, env)
            decided = evaluate(cond, env, self.consts)
            then = self.visit(node.children[1], env)
            other = self.visit(node.children[2], env) if len(node.children) > 2 else Accesses()
            if decided is None:
                return acc.then(then.either(other))
            return acc.then(then if decided else other)
        if kind in LOOPS:
            return self._loop(node, env)
        if kind == "ARRAY_SUBSCRIPT_EXPR":
            return self._access(node, "read", env).then(self._indices(node, env))
        target, op = self._assignment(node)
        if target is not None:
            acc = self._access(target, "write", env).then(self._indices(target, env))
            if op != "=":
                acc = acc.then(self._access(target, "read", env))
            rest = [c for c in node.children if c is not target and strip(c) is not target]
            for child in rest:
                acc = acc.then(self.visit(child, env))
            return acc
        acc = self._stream_call(node)
        for child in node.children:
            acc = acc.then(self.visit(child, env))
        return acc

    def _indices(self, chain: Node, env: dict[str, int]) -> Accesses:
        """What the index expressions of a subscript chain access themselves."""
        acc = Accesses()
        while chain.kind == "ARRAY_SUBSCRIPT_EXPR" and len(chain.children) == 2:
            acc = acc.then(self.visit(chain.children[1], env))
            chain = strip(chain.children[0])
        return acc

    def _assignment(self, node: Node) -> tuple[Node | None, str]:
        """The subscript chain written by an assignment, ++ or --, and the operator."""
        op = ""
        if node.kind in ("BINARY_OPERATOR", "COMPOUND_ASSIGNMENT_OPERATOR") and node.op in ASSIGNMENTS:
            op = node.op
        elif node.kind == "CALL_EXPR" and node.spelling.startswith("operator") and \
                node.spelling[len("operator"):] in ASSIGNMENTS | {"++", "--"}:
            op = node.spelling[len("operator"):]
        elif node.kind == "UNARY_OPERATOR" and node.op in ("++", "--"):
            op = node.op
        if not op or not node.children:
            return None, ""
        target = strip(node.children[0])
        return (target, op) if target.kind == "ARRAY_SUBSCRIPT_EXPR" else (None, "")

    def _stream_call(self, node: Node) -> Accesses:
        out = Accesses()
        if node.kind != "CALL_EXPR":
            return out
        name = node.spelling
        stream = None
        if name in STREAM_READS | STREAM_WRITES:
            for child in node.children:
                base = strip(child)
                if base.kind == "MEMBER_REF_EXPR" and base.children:
                    base = strip(base.children[0])
                if base.kind == "DECL_REF_EXPR" and base.spelling in self.streams:
                    stream = base.spelling
                    break
        if stream is not None:
            kind = "read" if name in STREAM_READS else "write"
            out.streams[(stream, kind)] = 1
            out.sites[stream] = node.line
        return out

    def _loop(self, loop: Node, env: dict[str, int]) -> Accesses:
        """A loop inside a pipelined loop: unrolled by the tool."""
        header = _loop_header(loop, env, self.consts)
        body = loop.children[-1]
        if header is None:
            self.hazards.append((loop.line, "a loop inside a pipelined loop has no constant trip count, so it "
                                            "cannot be unrolled (the pipeline cannot reach II=1)"))
            return self.visit(body, env)
        var, values = header
        if not values:
            return Accesses()
        if var not in self.relevant(body) or len(values) > MAX_COPIES:
            return self.visit(body, {k: v for k, v in env.items() if k != var}).times(len(values))
        acc = Accesses()
        for value in values:
            acc = acc.then(self.visit(body, {**env, var: value}))
        return acc

    def check_iteration(self, loop: Node) -> None:
        """Ports and streams of one iteration of a pipelined loop."""
        acc = self.visit(loop.children[-1], {})
        for (stream, kind), count in sorted(acc.streams.items()):
            if count > 1:
                self.hazards.append((acc.sites[stream], f"stream '{stream}' is {'read' if kind == 'read' else 'written'} "
                                                         f"{count} times per iteration of a pipelined loop (II=1 "
                                                         "allows one)"))
        by_array: dict[str, list] = {}
        for (name, bank), entries in acc.memory.items():
            by_array.setdefault(name, []).append((bank, entries))
        for name, banks in sorted(by_array.items()):
            array = self.arrays[name]
            limit, max_writes = array.ports()
            concrete = {b for b, _ in banks if None not in b} or {next(iter(b for b, _ in banks))}
            for bank in sorted(concrete, key=str):
                hits = set()
                for b, entries in banks:
                    if all(x is None or y is None or x == y for x, y in zip(b, bank)):
                        hits |= entries
                reads = sum(1 for kind, _, _ in hits if kind == "read")
                writes = len(hits) - reads
                over = (limit is not None and reads + writes > limit) or writes > max_writes
                if over:
                    where = f" (bank {', '.join('*' if x is None else str(x) for x in bank)})" if bank else ""
                    ports = f"{limit} port{'s' if limit != 1 else ''}" if limit is not None else "unlimited reads"
                    self.hazards.append((acc.sites[name],
                                         f"memory '{name}'{where} is accessed {reads + writes} times per iteration "
                                         f"({reads} read{'s' if reads != 1 else ''}, {writes} write{'s' if writes != 1 else ''}) but has {ports}"
                                         f"{f', {max_writes} write' if max_writes < 2 else ''}: II=1 fails"))


def _tokens(node: Node) -> list[str]:
    """A stand-in for an expression's text: its kinds, names and literals, in order."""
    out = [node.spelling or node.op or (str(node.value) if node.value is not None else node.kind)]
    for child in node.children:
        out += _tokens(child)
    return out


# ---- the project ---------------------------------------------------------------------------------

def _dependence_hazards(pragma: Pragma, buffers: dict[str, CarriedBuffer]) -> str | None:
    variable = pragma.get("variable")
    intra = pragma.get("intra") is True or pragma.get("type") == "intra"
    dependent = pragma.get("dependent")
    false = pragma.get("false") is True or (isinstance(dependent, str) and dependent.lower() == "false") or \
        (pragma.get("true") is not True and dependent is None)          # Vitis assumes false when unsaid
    if not isinstance(variable, str):
        return "a DEPENDENCE pragma without variable= cannot be checked against computed distances" if false else None
    buffer = buffers.get(variable)
    if intra:
        return f"DEPENDENCE variable={variable} intra false: qgen cannot check it" if false else None
    if buffer is None:
        if false:
            return (f"DEPENDENCE variable={variable} inter false, but qgen computed no distance for '{variable}' in this "
                    "kernel: it cannot be checked")
        return None
    if false:
        if buffer.distance <= buffer.bound:
            return (f"DEPENDENCE variable={variable} inter false is unsafe: an element of '{variable}' is loaded "
                    f"{buffer.distance} iterations after its store, within reach of the pipeline (bound "
                    f"{buffer.bound}); use `inter true distance={buffer.distance}` or registers")
        return None
    distance = pragma.get("distance")
    if distance is not None:
        try:
            claimed = int(distance)
        except ValueError:
            return f"DEPENDENCE variable={variable}: distance={distance} is not a number"
        if claimed > buffer.distance:
            return (f"DEPENDENCE variable={variable} claims distance {claimed}, but an element is loaded "
                    f"{buffer.distance} iterations after its store")
    return None


def check_units(root: Path, units: list, buffers: dict[str, dict[str, CarriedBuffer]]) -> list[str]:
    """Hazards of the project's kernels as 'file:line: what' (file relative to the project).
    `buffers`: per kernel source (relative path), the carried buffers its op computed."""
    root = Path(root).resolve()
    hazards: dict[tuple[str, int, str], None] = {}
    texts: dict[str, str] = {}
    for tu in units:
        globals_ = _globals(tu.cursor)
        for cursor in tu.cursor.get_children():
            if cursor.kind.name != "FUNCTION_DECL" or not cursor.is_definition() or cursor.location.file is None:
                continue
            path = Path(cursor.location.file.name).resolve()
            if root / "firmware" not in path.parents:
                continue
            rel = path.relative_to(root).as_posix()
            if rel not in texts:
                texts[rel] = path.read_text(errors="replace")
                for pragma in parse_pragmas(texts[rel]):
                    if pragma.directive == "DEPENDENCE":
                        what = _dependence_hazards(pragma, buffers.get(rel, {}))
                        if what:
                            hazards[(rel, pragma.line, what)] = None
            for line, what in _function_hazards(cursor, texts[rel], rel, globals_):
                hazards[(rel, line, what)] = None
    return [f"{f}:{line}: {what}" for f, line, what in sorted(hazards, key=lambda h: (h[0], h[1]))]


def _globals(tu_cursor) -> dict[str, object]:
    return {c.spelling: c for c in tu_cursor.get_children() if c.kind.name == "VAR_DECL"}


def _walk(cursor):
    for child in cursor.get_children():
        yield child
        yield from _walk(child)


def _function_hazards(function, text: str, rel: str, globals_: dict) -> list[tuple[int, str]]:
    start, end = function.extent.start.line, function.extent.end.line
    pragmas = [p for p in parse_pragmas(text) if start <= p.line <= end]
    pipelines = [p for p in pragmas if p.directive == "PIPELINE" and not p.get("off")]
    if not pipelines:
        return []
    loops, locals_, streams = [], {}, set()
    for c in _walk(function):
        kind = c.kind.name
        if kind in LOOPS:
            loops.append(c)
        elif kind == "VAR_DECL":
            locals_[c.spelling] = c
        if kind in ("PARM_DECL", "VAR_DECL") and "hls::stream" in c.type.spelling:
            streams.add(c.spelling)
    arrays, consts = {}, {}
    for name, decl in {**globals_, **locals_}.items():
        dims = _array_shape(decl.type)
        if dims:
            arrays[name] = Array(name, dims, decl.type.spelling.lstrip().startswith("const") or
                                 "const " in decl.type.spelling.split("[")[0])
        elif decl.type.is_const_qualified():
            children = list(decl.get_children())
            if children:
                consts[name] = light(children[-1])
    for p in pragmas:
        array = arrays.get(p.get("variable")) if isinstance(p.get("variable"), str) else None
        if array is None:
            continue
        if p.directive in ("ARRAY_PARTITION", "ARRAY_RESHAPE"):
            _apply_array_pragma(array, p)
        elif p.directive == "BIND_STORAGE" and isinstance(p.get("type"), str):
            array.storage = p.get("type").lower()
    out = []
    for p in pipelines:
        loop = _innermost_loop(loops, p.line)
        if loop is None:
            continue                # a function-level pipeline: nothing iterates
        node = light(loop)
        kernel = _Kernel(rel, arrays, streams, consts)
        header = _loop_header(node, {}, consts)
        if header is not None and len(header[1]) <= 1:
            out.append((loop.location.line, f"pipelined loop runs {len(header[1])} time(s): a PIPELINE pragma "
                                            "belongs on a loop with more than one trip"))
        kernel.check_iteration(node)
        out += kernel.hazards
    return out


def _innermost_loop(loops, line: int):
    """The innermost loop whose body holds `line` (where its pragmas stand)."""
    best = None
    for loop in loops:
        body = list(loop.get_children())[-1]
        if body.extent.start.line <= line <= body.extent.end.line:
            if best is None or body.extent.start.offset >= list(best.get_children())[-1].extent.start.offset:
                best = loop
    return best
