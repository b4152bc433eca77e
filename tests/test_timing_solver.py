"""The numpy solver of the timing model gives the event engine's results, to the cycle.

The event engine (codegen/timing/events.py) is the model as it always was; the solver must agree
with it on every figure `qgen simulate` reports (interval, frame ends, FIFO peaks, stall cycles by
cause) and must give up, never answer, when the design deadlocks.
"""
import json

import numpy as np
import pytest

from codegen.timing import events, solver
from codegen.timing.schedule import Schedule, TimedKernel, TimingModel, check_model, model_from_json
from codegen.timing.simulate import STYLES, UNBOUNDED, _input_words, _result, simulate


def _run_both(model, *, frames, style, depths=None, input_period=None, depth_factor=1.0, depth_add=0):
    declared = {**model.depths, **(depths or {}), **dict.fromkeys(model.external, UNBOUNDED)}
    run = dict(frames=frames, style=style, depths=declared, inputs=_input_words(model, frames, input_period),
               depth_factor=depth_factor, depth_add=depth_add)
    fast, exact = solver.solve(model, **run), events.run(model, **run)
    exact_result = _result(model, style, frames, exact, declared)
    return (None if fast is None else _result(model, style, frames, fast, declared)), exact_result


def _assert_same(fast, exact):
    assert fast.to_json() == exact.to_json()
    assert fast.frame_done == exact.frame_done
    assert fast.stalls == exact.stalls


def _ports(rng, iterations: int, tokens: int, late: bool = False) -> np.ndarray:
    """`tokens` distinct increasing iterations of `iterations`, in runs as loop nests make them."""
    if rng.random() < 0.5:           # a regular stride
        step = iterations // tokens
        start = (iterations - step * (tokens - 1) - 1) if late else int(rng.integers(0, iterations - step * (tokens - 1)))
        return start + step * np.arange(tokens, dtype=np.int64)
    return np.sort(rng.choice(iterations, tokens, replace=False)).astype(np.int64)


def random_model(seed: int) -> TimingModel:
    """A random feed-forward dataflow: a chain with forks (split kernels) rejoined further on, as a
    U-Net's skips are, kernels of random rates, bursts and pipeline depths, FIFOs of depth 1-8."""
    rng = np.random.default_rng(seed)
    kernels, depths = [], {}
    tokens = int(rng.integers(4, 40))
    current, pending, n = "in", [], 0

    def stream(tokens_: int) -> str:
        nonlocal n
        n += 1
        name = f"s{n}"
        depths[name] = int(rng.choice([1, 2, 2, 3, 5, 8, 64]))
        return name

    for i in range(int(rng.integers(2, 9))):
        out_tokens = int(rng.choice([tokens, tokens, max(1, tokens // 2), tokens * 2]))
        iterations = max(tokens, out_tokens) * int(rng.integers(1, 4)) + int(rng.integers(0, 3))
        ins, reads = [current], [_ports(rng, iterations, tokens)]
        if pending and pending[-1][1] == tokens and rng.random() < 0.5:     # rejoin a fork
            ins.append(pending.pop()[0])
            reads.append(_ports(rng, iterations, tokens))
        outs = [stream(out_tokens)]
        writes = [_ports(rng, iterations, out_tokens, late=True)]
        if rng.random() < 0.3:                                      # fork: a second copy of the output
            outs.append(stream(out_tokens))
            writes.append(writes[0] if rng.random() < 0.7 else _ports(rng, iterations, out_tokens, late=True))
            pending.append((outs[1], out_tokens))
        kernels.append(TimedKernel(f"k{i}", ins, outs, Schedule(iterations, int(rng.integers(1, 7)), reads, writes)))
        current, tokens = outs[0], out_tokens
    for skip, skip_tokens in pending:                               # every fork is read somewhere
        kernels.append(TimedKernel(f"sink_{skip}", [skip], ["out_" + skip],
                                   Schedule(skip_tokens, 1, [np.arange(skip_tokens)], [np.arange(skip_tokens)])))
    final = "out"
    kernels.append(TimedKernel("writer", [current], [final], Schedule(tokens, 2, [np.arange(tokens)], [np.arange(tokens)])))
    model = TimingModel(kernels, depths, {"in", final} | {"out_" + s for s, _ in pending}, 10.0)
    check_model(model)
    return model


@pytest.mark.parametrize("style", STYLES)
def test_solver_equals_event_engine_on_random_dataflows(style):
    solved = deadlocks = 0
    for seed in range(150):
        model = random_model(seed)
        rng = np.random.default_rng(seed + 1000)
        frames = int(rng.integers(1, 4))
        period = float(rng.choice([0, 0, 1.5, 3.7])) or None
        fast, exact = _run_both(model, frames=frames, style=style, input_period=period,
                                depth_factor=float(rng.choice([1, 2])), depth_add=int(rng.integers(0, 3)))
        if exact.deadlock:
            deadlocks += 1
            assert fast is None, f"seed {seed}: the solver answered for a design that deadlocks"
        elif fast is not None:
            solved += 1
            _assert_same(fast, exact)
    assert deadlocks >= 10 and solved >= 60, (deadlocks, solved)     # both kinds are exercised


@pytest.fixture(scope="module")
def project_model(tiny_project):
    return model_from_json(json.loads((tiny_project[0] / "schedule.json").read_text()))


@pytest.mark.parametrize("style", STYLES)
def test_solver_equals_event_engine_on_a_generated_design(project_model, style):
    """The generated depths, every FIFO at 2, and skip FIFOs shrunk until they deadlock."""
    model = project_model
    skips = [n for n, d in model.depths.items() if d > 2]
    cases = [{}, dict.fromkeys(model.depths, 2)] + [{n: max(1, int(model.depths[n] * f)) for n in skips}
                                                     for f in (0.25, 0.6, 0.95)]
    outcomes = set()
    for depths in cases:
        fast, exact = _run_both(model, frames=3, style=style, depths=depths)
        outcomes.add((exact.deadlock, fast is not None))
        if fast is not None:
            _assert_same(fast, exact)
        else:
            assert depths, "the generated depths must settle in the solver"
        assert simulate(model, frames=3, style=style, depths=depths).to_json() == exact.to_json()
    assert (False, True) in outcomes and (True, False) in outcomes, outcomes


def test_unbounded_fifos_settle_in_one_pass(project_model, monkeypatch):
    """FIFO sizing's free runs: without bounds nothing flows back, so one sweep in dataflow order
    settles every kernel (a budget of less than one sweep's work still gets an answer)."""
    model = project_model
    unbounded = {**dict.fromkeys(model.depths, UNBOUNDED), **dict.fromkeys(model.external, UNBOUNDED)}
    monkeypatch.setattr(solver, "WORK_BUDGET", 0.5)
    assert solver.solve(model, frames=2, style="flush", depths=unbounded, inputs=_input_words(model, 2, None))
    bounded = {**unbounded, **model.depths}
    assert solver.solve(model, frames=2, style="flush", depths=bounded, inputs=_input_words(model, 2, None)) is None
