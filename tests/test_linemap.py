"""Errors where the engineer works: generated lines map back to template lines, and the compile
check, the lint and C-simulation report them there."""
import json
import re
import shutil

import pytest

from codegen.hls.linemap import LineMaps, compiler_error, lint_problem
from codegen.hls.render import Renderer


@pytest.fixture
def templates(tmp_path):
    folder = tmp_path / "templates"
    (folder / "kernels").mkdir(parents=True)
    return folder


def _render(folder, name, text, context=None):
    (folder / name).write_text(text)
    return Renderer(folder).render(name, context or {})


def test_every_output_line_knows_its_template_line(templates):
    (templates / "part.j2").write_text("included {{ x }}\nsecond\n")
    text = ("{#- a comment\n   of two lines -#}\n"        # 1-2: no output
            "first {{ x }}\n"                              # 3
            "{%- if x %}\n"                                # 4: strips the newline of line 3
            "  guarded\n"                                  # 5
            "{% endif -%}\n"                               # 6
            "  {{ many }}\n"                               # 7: a value of three lines
            "{% set captured %}a\nb{% endset %}{{ captured|length }}\n"   # 8-9: captured, not marked
            "{% include 'part.j2' %}"                      # 10
            "last\n")                                      # 10
    out = _render(templates, "kernels/k.cpp.j2", text, {"x": 1, "many": "m1\nm2\nm3"})
    assert out == "first 1\n  guarded\nm1\nm2\nm3\n3\nincluded 1\nsecond\nlast\n"   # the marks leave no trace
    origins = [(o[0].rsplit("/", 1)[-1], o[1]) if o else None for o in out.origins]
    assert len(origins) == len(out.split("\n"))
    assert origins == [("k.cpp.j2", 4), ("k.cpp.j2", 5),                  # whitespace control moved the newline
                       ("k.cpp.j2", 7), ("k.cpp.j2", 7), ("k.cpp.j2", 7),  # a value's lines: where it is written
                       ("k.cpp.j2", 9),                                    # a captured block: where it is used
                       ("part.j2", 1), ("part.j2", 2), ("k.cpp.j2", 10), None]


def test_maps_round_trip_and_refuse_hostile_files(templates, tmp_path):
    out = _render(templates, "kernels/k.cpp.j2", "a\n{{ big }}\nb\n", {"big": "\n".join(["0,"] * 500)})
    maps = LineMaps.from_rendered({"firmware/k.cpp": out, "plain.txt": "not rendered"})
    data = json.loads(json.dumps(maps.to_json()))
    assert len(data["files"]["firmware/k.cpp"]) <= 4          # 500 lines of one value: one run
    assert LineMaps.from_json(data).files == maps.files and set(maps.files) == {"firmware/k.cpp"}
    assert LineMaps.from_json({**data, "files": {"f": [[0, 1, 3, 1]]}, "digests": {"f": "0"}}).files["f"][2] == (0, 3)
    for bad in ({**data, "format": "x"},
                {**data, "files": {"f": [[0, 1, 10 ** 9, 1]]}, "digests": {"f": "0"}},
                {**data, "files": {"f": [[7, 1, 1, 0]]}, "digests": {"f": "0"}},
                {**data, "files": {"f": [[0, 1, 1, 2]]}, "digests": {"f": "0"}},
                {**data, "files": {"f": "no"}, "digests": {"f": "0"}},
                {**data, "digests": {}}):
        with pytest.raises(ValueError):
            LineMaps.from_json(bad)
    root = tmp_path / "prj"
    (root / "firmware").mkdir(parents=True)
    (root / "firmware" / "k.cpp").write_text(out)
    maps.save(root)
    assert LineMaps.load(root).origin("firmware/k.cpp", 1)[1] == 1
    (root / "firmware" / "k.cpp").write_text("// edited by hand\n" + out)     # no longer what was generated
    assert LineMaps.load(root).origin("firmware/k.cpp", 1) is None
    (root / ".qgen" / "linemap.json").write_text("{not json")
    assert LineMaps.load(root).files == {}


def test_compiler_errors_are_reported_at_the_template_line(templates):
    out = _render(templates, "kernels/k.cpp.j2", "// head\nint f() {\n  return x;\n}\n")
    maps = LineMaps.from_rendered({"firmware/layers/k.cpp": out})
    where = f"{templates}/kernels/k.cpp.j2"          # outside the current folder: shown whole
    stderr = "firmware/layers/k.cpp: In function 'int f()':\nfirmware/layers/k.cpp:3:10: error: 'x' was not declared\n"
    assert compiler_error(stderr, maps, "?") == f"{where}:3 (in firmware/layers/k.cpp:3): 'x' was not declared"
    inside = ("In file included from /opt/ap_types/ap_int.h:10,\n                 from firmware/layers/k.cpp:2:\n"
              "/opt/ap_types/ap_int_base.h:99:5: error: no match for 'operator='\n")
    assert "(in firmware/layers/k.cpp:2): no match" in compiler_error(inside, maps, "?")
    assert compiler_error("ld: something else\n", maps, "fallback") == "fallback"
    assert lint_problem("firmware/layers/k.cpp:3: recursion: f calls itself", maps).endswith(
        "k.cpp.j2:3 (in firmware/layers/k.cpp:3): recursion: f calls itself")
    assert lint_problem("firmware/other.cpp:3: x", maps) == "firmware/other.cpp:3: x"


def _plant(folder, template, anchor, line_text):
    """Insert `line_text` before the first line containing `anchor`; returns its template line."""
    path = folder / template
    lines = path.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if anchor in line)
    lines.insert(at, line_text)
    path.write_text("\n".join(lines))
    return at + 1


def test_a_cxx_mistake_in_an_edited_template_stops_qgen_hls_at_its_line(cli, tiny_checkpoint, tmp_path):
    folder = tmp_path / "t"
    assert cli("templates", "export", folder).exit_code == 0
    line = _plant(folder, "kernels/output.cpp.j2", "#pragma HLS PIPELINE", "    int planted = ;")
    out = tmp_path / "prj"
    result = cli("hls", "--model", tiny_checkpoint, "--templates", folder, "--out", out, "--images", "1")
    assert result.exit_code == 2, result.output
    error = result.output.strip().splitlines()[-1]
    assert re.match(rf"Error: \S*kernels/output\.cpp\.j2:{line} \(in firmware/layers/mask\.cpp:\d+\): .*expected", error), error
    assert not out.exists()


def test_lint_findings_name_the_template_line(cli, tiny_checkpoint, tmp_path):
    folder = tmp_path / "t"
    assert cli("templates", "export", folder).exit_code == 0
    line = _plant(folder, "kernels/output.cpp.j2", "#pragma HLS PIPELINE", "    int* scratch = new int[4]; delete[] scratch;")
    result = cli("hls", "--model", tiny_checkpoint, "--templates", folder, "--out", tmp_path / "prj", "--images", "1")
    assert result.exit_code == 2, result.output
    assert re.search(rf"kernels/output\.cpp\.j2:{line} \(in firmware/layers/mask\.cpp:\d+\): dynamic memory",
                     result.output), result.output


def test_csim_json_reports_a_compile_failure_as_json(cli, tiny_project, tmp_path):
    copy = tmp_path / "prj"
    shutil.copytree(tiny_project[0], copy, ignore=shutil.ignore_patterns("csim_build"))
    kernel = copy / "firmware" / "layers" / "mask.cpp"
    kernel.write_text(kernel.read_text().replace("{", "{ int broken = ;", 1))
    result = cli("csim", copy, "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["passed"] is False and report["tool"] == "gxx"
    # the kernel was edited after generation: the error names the generated line, not a template line
    assert re.match(r"firmware/layers/mask\.cpp:\d+: .*expected", report["error"]), report["error"]
    missing = cli("csim", tmp_path / "nowhere", "--json")
    assert missing.exit_code == 2 and json.loads(missing.stdout)["passed"] is False
