"""The synthesizable-subset lint reads C++ as C++ (libclang): each construct below is caught with its
file and line however it is spelt, and ordinary kernel code passes."""
import pytest

from codegen.hls.lint import lint_source

CLEAN = """#include <ap_int.h>
#include <hls_stream.h>
template <int N> static int twice(int x) { return 2 * x + N; }
void k(hls::stream<ap_uint<4> >& in, hls::stream<ap_uint<4> >& out) {
    static ap_uint<4> line[2][16];
#pragma HLS DEPENDENCE variable=line inter false
    for (int i = 0; i < 16; i++) {
#pragma HLS PIPELINE II=1 style=flp
        ap_uint<4> v = in.read();
        line[i % 2][i] = v;
        out.write(twice<1>(v));
    }
}
"""

CASES = {
    "static one-line recursion": ("static int f(int n) { return n ? f(n - 1) : 0; }\n", "recursion: f calls itself", 1),
    "brace on next line": ("int g(int n)\n{\n  if (n)\n    return g(n - 1);\n  return 0;\n}\n", "recursion: g calls itself", 1),
    "mutual recursion": ("int b(int);\nint a(int n) { return n ? b(n - 1) : 0; }\nint b(int n) { return a(n); }\n",
                         "mutual recursion", None),
    "new": ("void k() { int *p = new int[4]; p[0] = 1; }\n", "dynamic memory (new/delete)", 1),
    "malloc": ("#include <stdlib.h>\nvoid k() { void *p = malloc(4); }\n", "dynamic memory (malloc)", 2),
    "std::vector": ("#include <vector>\nvoid k() {\n  std::vector<int> v(4);\n}\n", "standard-library container (std::vector)", 3),
    "virtual call": ("struct A { virtual int f() { return 1; } };\nint k(A& a) { return a.f(); }\n", "virtual", 1),
    "printf": ("#include <stdio.h>\nvoid k(int x) {\n  printf(\"%d\", x);\n}\n", "host I/O in a kernel (printf)", 3),
    "cout": ("#include <iostream>\nvoid k(int x) { std::cout << x; }\n", "host I/O in a kernel (std::cout)", 2),
    "variable-length array": ("void k(int n) {\n  int buf[n];\n  buf[0] = 0;\n}\n", "array 'buf' has a run-time size", 2),
    "throw": ("void k(int n) { if (n < 0) throw 1; }\n", "exceptions (try/throw)", 1),
}


def test_clean_kernel_passes():
    assert lint_source("k.cpp", CLEAN) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_lint_catches_each_construct_with_file_and_line(case):
    source, what, line = CASES[case]
    problems = lint_source("kernels/k.cpp", source)
    matching = [p for p in problems if what in p]
    assert matching, problems
    assert matching[0].startswith("kernels/k.cpp:" + (f"{line}:" if line else ""))


def test_numeric_initializers_are_skipped_without_moving_lines_or_hiding_code(tmp_path):
    from codegen.hls.lint import _without_numbers, lint_project

    header = ("static const int w[2][3] = {{1, -2, 3},\n{4, 5, -6}};\n"
              "static const int calls[1] = {f_alloc()};\n"        # not only numbers: parsed as written
              "#include <stdio.h>\nstatic inline void k(int x) {\n  printf(\"%d\", x);\n}\n")
    light = _without_numbers(header)
    assert light.count("\n") == header.count("\n") and "f_alloc()" in light and "-6" not in light
    firmware = tmp_path / "firmware"
    firmware.mkdir()
    (firmware / "k.h").write_text("#include <stdlib.h>\nstatic int f_alloc() { return malloc(4) != 0; }\n" + header)
    (firmware / "k.cpp").write_text('#include "k.h"\nvoid top(int x) { k(x); }\n')
    problems = lint_project(tmp_path)
    assert any(p.startswith("firmware/k.h:2:") and "malloc" in p for p in problems), problems
    assert any(p.startswith("firmware/k.h:8:") and "printf" in p for p in problems), problems
