"""qgen's cache: one changed byte of any input is a miss, a damaged entry is a miss, the cap holds,
and a project built from cached results is the project built without them."""
import json
import os
import shutil
from pathlib import Path

import pytest

from codegen import cache


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty cache folder for this test (qgen's commands find it through QGEN_CACHE)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("QGEN_CACHE", str(folder))
    monkeypatch.delenv("QGEN_CACHE_MAX_BYTES", raising=False)
    return cache.shared()


def _entry_of(size: int):
    return lambda folder: (folder / "data").write_bytes(b"x" * size)


def _key(n: int) -> str:
    return cache.content_key(str(n))


# ---- the cache folder ---------------------------------------------------------------------------

def test_least_recently_used_entries_go_first_and_the_cap_holds(tmp_path):
    writer = cache.Cache(tmp_path, cap=10_000)
    for n in range(4):
        writer.put("fifo", _key(n), _entry_of(3000))
        os.utime(tmp_path / "fifo" / _key(n), (1000 + n, 1000 + n))     # used in the order 0, 1, 2, 3
    assert writer.info()["bytes"] == 12_000                             # kept: this process uses them
    assert writer.get("fifo", _key(0)) is not None                      # 0 is now the most recent
    writer.release()                                                    # the process ends
    kept = sorted(p.name for p in (tmp_path / "fifo").iterdir())
    assert kept == sorted([_key(0), _key(2), _key(3)])                  # 1 was the least recently used
    assert writer.info()["bytes"] <= 10_000
    other = cache.Cache(tmp_path, cap=10_000)                           # another process writes more
    other.put("lint", _key(9), _entry_of(3000))
    assert other.info()["bytes"] <= 10_000 and other.get("lint", _key(9)) is not None
    assert other.get("fifo", _key(2)) is None                           # the oldest went


def test_cap_comes_from_the_environment(monkeypatch, tmp_path, cli):
    for text, expected in (("500M", 500 << 20), ("2G", 2 << 30), ("123456", 123456), ("1.5k", 1536)):
        monkeypatch.setenv("QGEN_CACHE_MAX_BYTES", text)
        assert cache.max_bytes() == expected
    monkeypatch.delenv("QGEN_CACHE_MAX_BYTES")
    assert cache.max_bytes() == cache.DEFAULT_MAX_BYTES <= 1 << 30
    monkeypatch.setenv("QGEN_CACHE", str(tmp_path))
    monkeypatch.setenv("QGEN_CACHE_MAX_BYTES", "lots")
    result = cli("cache", "info")
    assert result.exit_code == 2 and result.output.startswith("Error: QGEN_CACHE_MAX_BYTES")


def test_entries_appear_whole_or_not_at_all(tmp_path):
    store = cache.Cache(tmp_path, cap=1 << 20)

    def failing(folder):
        (folder / "half").write_text("half")
        raise RuntimeError("compiler crashed")

    with pytest.raises(RuntimeError):
        store.put("objects", _key(1), failing)
    assert store.get("objects", _key(1)) is None and store.entries() == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_hostile_entries_are_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "entry.json").write_text("[]")
    root = tmp_path / "cache"
    (root / "lint").mkdir(parents=True)
    (root / "lint" / _key(1)).symlink_to(outside)
    store = cache.Cache(root, cap=0)
    assert store.get_json("lint", _key(1)) is None
    store.evict()
    assert (outside / "entry.json").is_file()              # removing the link never removes its target
    with pytest.raises(ValueError):
        store.get("lint", "../../etc")


def test_cache_info_and_clear(cli, store):
    store.put("fifo", _key(1), _entry_of(2048))
    info = json.loads(cli("cache", "info", "--json").stdout)
    assert info["entries"] == 1 and info["kinds"]["fifo"]["bytes"] == 2048 and info["folder"] == str(store.root)
    assert "fifo" in cli("cache", "info").output
    result = cli("cache", "clear")
    assert result.exit_code == 0 and "removed 1 entries" in result.output
    assert json.loads(cli("cache", "info", "--json").stdout)["entries"] == 0


# ---- lowering: checkpoint bytes and image count --------------------------------------------------

def test_lowered_graph_round_trips_and_any_changed_byte_is_a_miss(tiny_checkpoint, tmp_path, store, monkeypatch):
    import numpy as np

    from codegen import lowered_cache

    ckpt = tmp_path / "m.pt"
    shutil.copy(tiny_checkpoint, ckpt)
    fresh = lowered_cache.prepare(ckpt, 1, check_reference=True)
    hit = lowered_cache.prepare(ckpt, 1, check_reference=True)
    assert not fresh.from_cache and hit.from_cache and hit.reference_checked
    codes = fresh.graph.input_quant.quantize(fresh.images / 256.0)
    for name, value in fresh.graph.run(codes).items():
        assert np.array_equal(hit.graph.run(codes)[name], value), name
    assert hit.image_ids == fresh.image_ids and np.array_equal(hit.images, fresh.images)

    def lowered_again(*args):
        raise AssertionError("lowered again")

    monkeypatch.setattr(lowered_cache, "_lower", lowered_again)
    lowered_cache.prepare(ckpt, 1, check_reference=True)                # still a hit
    with pytest.raises(AssertionError, match="lowered again"):
        lowered_cache.prepare(ckpt, 2, check_reference=True)           # another image count
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 1
    ckpt.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="lowered again"):
        lowered_cache.prepare(ckpt, 1, check_reference=True)           # one byte of the checkpoint


def test_damaged_lowered_entry_is_a_miss_and_is_replaced(tiny_checkpoint, store):
    from codegen import lowered_cache

    lowered_cache.prepare(tiny_checkpoint, 1, check_reference=False)
    (entry,) = (store.root / "lowered").iterdir()
    arrays = entry / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:-100])                       # truncated
    again = lowered_cache.prepare(tiny_checkpoint, 1, check_reference=False)
    assert not again.from_cache
    assert lowered_cache.prepare(tiny_checkpoint, 1, check_reference=False).from_cache


def test_an_unchecked_entry_does_not_pass_for_a_checked_one(tiny_checkpoint, store):
    from codegen import lowered_cache

    assert not lowered_cache.prepare(tiny_checkpoint, 1, check_reference=False).reference_checked
    checked = lowered_cache.prepare(tiny_checkpoint, 1, check_reference=True)
    assert checked.reference_checked and not checked.from_cache


def test_stored_graph_refuses_edited_contents(tiny_checkpoint):
    from codegen.ir.store import StoreError, graph_from_data, graph_to_data
    from codegen.pipeline import lower

    doc, arrays = graph_to_data(lower(tiny_checkpoint).graph)
    assert graph_from_data(json.loads(json.dumps(doc)), arrays).name == doc["name"]
    weights = next(f["fields"]["weights"]["$array"] for f in doc["ops"] if "weights" in f["fields"])
    changed = dict(arrays, **{weights: arrays[weights] * 2})               # the summary no longer matches
    unknown = json.loads(json.dumps(doc))
    unknown["ops"][0]["type"] = "shell"
    extra = json.loads(json.dumps(doc))
    extra["ops"][0]["fields"]["command"] = "rm -rf /"
    floats = dict(arrays, **{weights: arrays[weights].astype(float)})
    for bad_doc, bad_arrays in ((doc, changed), (unknown, arrays), (extra, arrays), (doc, floats), ([], arrays)):
        with pytest.raises(StoreError):
            graph_from_data(bad_doc, bad_arrays)


# ---- folding, FIFO sizing, lint, objects: keys over their exact inputs ---------------------------

def test_folding_and_fifo_sizing_are_reused_only_for_the_same_inputs(tiny_checkpoint, store, monkeypatch):
    from codegen.hls import fifo
    from codegen.hls.design import build_design
    from codegen.parts import resolve_part
    from codegen.pipeline import lower
    from codegen.resources import fit_cache

    graph = lower(tiny_checkpoint).graph
    calls = []
    real_fit, real_size = fit_cache.choose_folding, fifo.size_fifos
    monkeypatch.setattr(fit_cache, "choose_folding", lambda *a, **k: calls.append("fit") or real_fit(*a, **k))
    monkeypatch.setattr(fifo, "size_fifos", lambda *a, **k: calls.append("size") or real_size(*a, **k))
    part = resolve_part("xc7z020")
    options = dict(fit=False, target_fps=None, headroom=0.8)
    folding, _ = fit_cache.choose_folding_cached(graph, part, 10.0, **options)
    first = list(calls)     # the fit, and the FIFO sizings it checks its folding with
    assert first.count("fit") == 1
    assert fit_cache.choose_folding_cached(graph, part, 10.0, **options)[0] == folding and calls == first
    fit_cache.choose_folding_cached(graph, part, 10.5, **options)
    fit_cache.choose_folding_cached(graph, part, 10.0, **{**options, "headroom": 0.81})
    assert calls.count("fit") == 3
    del calls[:]
    shutil.rmtree(store.root / "fifo")      # the fit's checks may have sized this very design already

    first = fifo.assign_depths(build_design(graph, folding)).depths
    assert fifo.assign_depths(build_design(graph, folding)).depths == first
    assert calls.count("size") == 1
    fifo.assign_depths(build_design(graph, folding), clock_ns=5.0)         # the clock is in the timing model
    assert calls.count("size") == 2
    for entry in (store.root / "fifo").iterdir():                          # damaged entries: misses
        data = json.loads((entry / "entry.json").read_text())
        if "depths" in data:                                               # a sizing
            data["depths"] = {name: -1 for name in data["depths"]}
        else:                                                              # the peak depths behind it
            data = {name: -1 for name in data}
        (entry / "entry.json").write_text(json.dumps(data))
    for _ in range(2):
        for clock in (10.0, 5.0):
            assert fifo.assign_depths(build_design(graph, folding), clock_ns=clock).depths == first
    assert calls.count("size") == 4


def test_firmware_and_object_keys_follow_every_byte(tiny_project, tmp_path):
    from codegen.compile_cache import object_key, project_includes
    from codegen.toolchain import ap_types_dir
    from codegen.hls.lint_cache import firmware_key

    copy = tmp_path / "prj"
    shutil.copytree(tiny_project[0], copy, ignore=shutil.ignore_patterns("tb_data", "csim_build"))
    source = "firmware/layers/enc1_conv1.cpp"
    includes = project_includes(copy, source, [])
    assert "firmware/layers/enc1_conv1.h" in includes and "firmware/qgen_common.h" in includes
    flags = ["-std=c++14", "-O2"]

    def keys():
        return firmware_key(copy), object_key("g++", flags, copy, source, [], ap_types_dir())

    before = keys()
    assert keys() == before
    moved = tmp_path / "elsewhere"
    shutil.copytree(copy, moved)
    assert object_key("g++", flags, moved, source, [], ap_types_dir()) == before[1]    # not where, what
    header = copy / "firmware" / "layers" / "enc1_conv1.h"
    text = header.read_bytes()
    header.write_bytes(text.replace(b"const", b"const ", 1))
    after = keys()
    assert after[0] != before[0] and after[1] != before[1]
    header.write_bytes(text)
    assert keys() == before
    assert object_key("g++", flags + ["-DX=1"], copy, source, [], ap_types_dir()) != before[1]
    other = copy / "firmware" / "layers" / "mask.cpp"
    other.write_text(other.read_text() + "\n")
    assert keys()[1] == before[1] and keys()[0] != before[0]              # mask.cpp is not enc1_conv1's input


def test_a_header_evicted_by_another_process_is_parsed_from_the_project(tiny_project, tmp_path, store):
    """Another qgen process may evict the precompiled header between csim's lookup and the
    compiler's start (it counts only its own entries as in use): the compile still succeeds, from
    the project's own copy of the header."""
    from codegen.csim import compile_setup, compile_sources
    from codegen.hls.project import load_project

    copy = tmp_path / "prj"
    shutil.copytree(tiny_project[0], copy, ignore=shutil.ignore_patterns("tb_data", "csim_build"))
    root, manifest = load_project(copy)
    cxx, flags = compile_setup(root.resolve(), manifest)
    (entry,) = [path for kind, path, _, _ in store.entries() if kind == "pch"]
    assert f"-I{entry}" in flags
    shutil.rmtree(entry)                     # what the other process's eviction does
    (obj,) = compile_sources(root.resolve(), ["firmware/layers/enc1_conv1.cpp"], cxx, flags, [], jobs=1)
    assert obj.is_file()


def test_objects_evicted_before_the_link_are_compiled_again(tiny_project, tmp_path, store, monkeypatch):
    """An object another process evicts between compile and link is compiled again, not a link error."""
    import codegen.csim as csim

    copy = tmp_path / "prj"
    shutil.copytree(tiny_project[0], copy, ignore=shutil.ignore_patterns("tb_data", "csim_build"))
    compile_sources, calls = csim.compile_sources, []

    def evicting(*args, **kwargs):
        objects = compile_sources(*args, **kwargs)
        calls.append(objects)
        if len(calls) == 1:
            shutil.rmtree(objects[0].parent)          # the entry, as the other process's eviction removes it
        return objects
    monkeypatch.setattr(csim, "compile_sources", evicting)
    exe, _ = csim.build(copy)
    assert exe.is_file() and len(calls) == 2


def test_the_common_header_is_shared_by_every_model(tiny_project, tmp_path, tiny_checkpoint, store):
    """qgen_common.h carries nothing of the model, so one precompiled header serves every project."""
    import torch
    from click.testing import CliRunner

    from codegen.cli import main

    raw = torch.load(tiny_checkpoint, weights_only=True)
    raw["name"] = "another_model"
    renamed = tmp_path / "another.pt"
    torch.save(raw, renamed)
    out = tmp_path / "other"
    result = CliRunner().invoke(main, ["hls", "--model", str(renamed), "--part", "xc7z020", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "another_model" in (out / "firmware" / "quantunet.cpp").read_text()
    common = "firmware/qgen_common.h"
    assert (out / common).read_bytes() == (tiny_project[0] / common).read_bytes()


# ---- the whole command ---------------------------------------------------------------------------

def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_project_from_the_cache_is_the_project_without_it(cli, tiny_checkpoint, tmp_path, store):
    cold, warm = tmp_path / "cold", tmp_path / "warm"
    assert cli("hls", "--model", tiny_checkpoint, "--out", cold, "--images", "1").exit_code == 0
    kinds = {k: v["entries"] for k, v in store.info()["kinds"].items()}
    # (the fitter checks its folding with peak-sized FIFOs: a sizing of its own besides the project's)
    assert all(kinds[k] == 1 for k in ("lowered", "fold", "lint")) and kinds["fifo"] >= 1, kinds
    assert cli("hls", "--model", tiny_checkpoint, "--out", warm, "--images", "1").exit_code == 0
    assert {k: v["entries"] for k, v in store.info()["kinds"].items()} == kinds      # all hits
    assert _tree(cold) == _tree(warm)


def test_a_checkpoint_that_does_not_load_leaves_nothing_cached(tmp_path, store):
    from codegen import lowered_cache
    from quantunet.checkpoint import CheckpointError

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(CheckpointError):
        lowered_cache.prepare(junk, 1, check_reference=True)
    assert store.info()["entries"] == 0
