"""LUT-equivalents: a design's LUTs, FFs, DSPs and BRAMs as one number, priced by the part.

Each resource costs the LUTs the part offers per unit of it (part LUTs / part units), so using 1 %
of the part's DSPs costs as much as using 1 % of its LUTs: the same share-of-the-part pricing the
folding fitter uses. On the xc7z020 (53,200 LUT, 106,400 FF, 220 DSP48E1, 280 BRAM_18K) one FF is
0.5 LUT, one DSP48E1 241.8 LUTs and one BRAM_18K 190 LUTs. URAM is left out (no 7-series part
has it, and qgen does not place memories in it).
"""
from __future__ import annotations

PRICED = ("lut", "ff", "dsp", "bram_18k")


def prices(available: dict) -> dict[str, float]:
    """LUTs per unit of each priced resource on a part (`Part.resources()`)."""
    lut = float(available["lut"])
    return {r: lut / available[r] if available.get(r) else 0.0 for r in PRICED}


def lut_equivalents(used: dict, available: dict) -> float:
    """LUT-equivalents of `used` (lut/ff/dsp/bram_18k counts) on the part with `available` resources."""
    price = prices(available)
    return sum(price[r] * float(used[r]) for r in PRICED)
