"""Click parameter types shared by the commands: numbers that must be finite and in range, FIFO depths."""
from __future__ import annotations

import math

import click


class FiniteFloat(click.ParamType):
    """A float that is finite and within [lo, hi] (each end open or closed); NaN and inf are refused.

    click's FloatRange lets NaN through (every comparison with NaN is false), so a clock of `nan`
    would reach the TCL as `create_clock -period nan`.
    """
    name = "float"

    def __init__(self, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
                 hi_open: bool = False):
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        too_low = self.lo is not None and (number <= self.lo if self.lo_open else number < self.lo)
        too_high = self.hi is not None and (number >= self.hi if self.hi_open else number > self.hi)
        if too_low or too_high:
            self.fail(f"{number:g} is not in {self._describe()}", param, ctx)
        return number

    def _describe(self) -> str:
        left = "-inf" if self.lo is None else f"{self.lo:g}"
        right = "inf" if self.hi is None else f"{self.hi:g}"
        return f"{'(' if self.lo_open or self.lo is None else '['}{left}, {right}{')' if self.hi_open or self.hi is None else ']'}"


CLOCK_NS = FiniteFloat(0.5, 100.0)              # 10 MHz .. 2 GHz
POSITIVE = FiniteFloat(0.0, None, lo_open=True)
NON_NEGATIVE = FiniteFloat(0.0, None)


MAX_FIFO_DEPTH = 1 << 30        # as schedule.json


def fifo_depths(ctx, param, values) -> dict[str, int]:
    """`--fifo-depth NAME=DEPTH` (repeatable) of `qgen simulate` and `qgen csim --threaded`: ASCII
    digits, 1..MAX_FIFO_DEPTH, each FIFO named once."""
    out = {}
    for item in values:
        name, sep, depth = item.partition("=")
        name, depth = name.strip(), depth.strip()
        if not sep or not name or not (depth.isascii() and depth.isdigit()) or \
                not 1 <= int(depth) <= MAX_FIFO_DEPTH:
            raise click.BadParameter(f"expected NAME=DEPTH with DEPTH in 1..{MAX_FIFO_DEPTH:,} (2^30), "
                                     f"got {item[:80]!r}")
        if name in out:
            raise click.BadParameter(f"FIFO {name[:80]!r} is given twice")
        out[name] = int(depth)
    return out
