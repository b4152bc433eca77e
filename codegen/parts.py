"""FPGA part database: full part names and available resources (BRAM in 18 Kb units).

Sources (see ../shared/reference/hls-facts.md, section 5): AvailableResources of real csynth.xml
reports and FINN's platform table (src/finn/util/platforms.py, src/finn/util/basic.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import QgenError


PART_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


@dataclass(frozen=True)
class Part:
    short: str          # family/device name users type, e.g. "xc7z020"
    full: str           # the part string Vitis needs, e.g. "xc7z020clg400-1"
    board: str
    lut: int
    ff: int
    bram_18k: int
    dsp: int
    uram: int
    dsp_kind: str       # DSP48E1 (7-series) or DSP48E2 (UltraScale+)

    def resources(self) -> dict[str, int]:
        return {"lut": self.lut, "ff": self.ff, "bram_18k": self.bram_18k, "dsp": self.dsp, "uram": self.uram}


PARTS: dict[str, Part] = {p.short: p for p in (
    Part("xc7z020", "xc7z020clg400-1", "Pynq-Z1/Z2, Zybo Z7-20", 53_200, 106_400, 280, 220, 0, "DSP48E1"),
    Part("xczu3eg", "xczu3eg-sbva484-1-e", "Ultra96", 70_560, 141_120, 432, 360, 0, "DSP48E2"),
    Part("xczu7ev", "xczu7ev-ffvc1156-2-e", "ZCU104", 230_400, 460_800, 624, 1_728, 96, "DSP48E2"),
    Part("xcu250", "xcu250-figd2104-2L-e", "Alveo U250", 1_728_000, 3_456_000, 5_376, 12_288, 1_280, "DSP48E2"),
)}


def resolve_part(name: str) -> Part:
    """A short name ('xc7z020') or a full part string ('xc7z020clg484-1') of a known device."""
    key = name.strip().lower()
    if not PART_PATTERN.fullmatch(key):    # the string is written into TCL and cfg files
        raise QgenError(f"'{name[:40]}' is not a part name (letters, digits and '-' only)")
    if key in PARTS:
        return PARTS[key]
    for part in PARTS.values():
        if key.startswith(part.short) and len(key) > len(part.short):
            # another package/speed grade of a known device: same resources, the user's exact string
            return Part(part.short, key, part.board, part.lut, part.ff, part.bram_18k, part.dsp, part.uram,
                        part.dsp_kind)
    known = ", ".join(f"{p.short} ({p.full})" for p in PARTS.values())
    raise QgenError(f"unknown part '{name}'; known parts: {known}")
