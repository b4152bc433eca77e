"""FPGA part database: full part names and available resources (BRAM in 18 Kb units).

Every part cites where its figures come from (`Part.source`). The device tables are AMD's data
sheets: DS190 (Zynq-7000 SoC overview, table 1), DS180 (7 series FPGAs overview: Spartan-7 and
Artix-7 tables), DS891 (Zynq UltraScale+ MPSoC overview, table 1) and DS987 (Kria K26 SOM data
sheet); they count block RAM in 36 Kb blocks, each two BRAM_18K as Vitis HLS counts them. The
first four parts were taken from AvailableResources of real csynth.xml reports and FINN's
platform table (src/finn/util/platforms.py); see ../shared/reference/hls-facts.md, section 5.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .errors import QgenError


PART_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


@dataclass(frozen=True)
class Part:
    short: str          # family/device name users type, e.g. "xc7z020"
    full: str           # the part string Vitis needs, e.g. "xc7z020clg400-1"
    board: str          # boards or modules that carry the device
    lut: int
    ff: int
    bram_18k: int
    dsp: int
    uram: int
    dsp_kind: str       # DSP48E1 (7-series, Zynq-7000) or DSP48E2 (UltraScale+)
    source: str = ""    # where the figures come from

    def resources(self) -> dict[str, int]:
        return {"lut": self.lut, "ff": self.ff, "bram_18k": self.bram_18k, "dsp": self.dsp, "uram": self.uram}


_CSYNTH_FINN = "csynth.xml AvailableResources and FINN platforms.py (hls-facts.md section 5)"
_DS190 = "AMD DS190 Zynq-7000 SoC overview, table 1"
_DS180_S7 = "AMD DS180 7 series overview, Spartan-7 table"
_DS180_A7 = "AMD DS180 7 series overview, Artix-7 table"

PARTS: dict[str, Part] = {p.short: p for p in (
    Part("xc7z020", "xc7z020clg400-1", "Pynq-Z1/Z2, Zybo Z7-20", 53_200, 106_400, 280, 220, 0, "DSP48E1",
         _CSYNTH_FINN),
    Part("xczu3eg", "xczu3eg-sbva484-1-e", "Ultra96", 70_560, 141_120, 432, 360, 0, "DSP48E2", _CSYNTH_FINN),
    Part("xczu7ev", "xczu7ev-ffvc1156-2-e", "ZCU104", 230_400, 460_800, 624, 1_728, 96, "DSP48E2", _CSYNTH_FINN),
    Part("xcu250", "xcu250-figd2104-2L-e", "Alveo U250", 1_728_000, 3_456_000, 5_376, 12_288, 1_280, "DSP48E2",
         _CSYNTH_FINN),
    # wearable-class parts: single-core Zynq-7000S, the small dual-core Zynq-7000s, Spartan-7,
    # Artix-7, the smallest Zynq UltraScale+ and the Kria K26 module
    Part("xc7z007s", "xc7z007sclg400-1", "Avnet MiniZed, Digilent Cora Z7-07S", 14_400, 28_800, 100, 66, 0,
         "DSP48E1", _DS190 + " (50 BRAM36); Vivado HLS report of a MiniZed design agrees"),
    Part("xc7z010", "xc7z010clg400-1", "Digilent Zybo Z7-10, Cora Z7-10", 17_600, 35_200, 120, 80, 0, "DSP48E1",
         _DS190 + " (60 BRAM36)"),
    Part("xc7z014s", "xc7z014sclg400-1", "single-core Zynq-7000S in CLG400 (footprint of xc7z010/020 boards)",
         40_600, 81_200, 214, 170, 0, "DSP48E1", _DS190 + " (107 BRAM36)"),
    Part("xc7z015", "xc7z015clg485-1", "Avnet PicoZed 7015", 46_200, 92_400, 190, 160, 0, "DSP48E1",
         _DS190 + " (95 BRAM36)"),
    Part("xc7s25", "xc7s25csga324-1", "Digilent Arty S7-25", 14_600, 29_200, 90, 80, 0, "DSP48E1",
         _DS180_S7 + " (45 BRAM36)"),
    Part("xc7s50", "xc7s50csga324-1", "Digilent Arty S7-50", 32_600, 65_200, 150, 120, 0, "DSP48E1",
         _DS180_S7 + " (75 BRAM36)"),
    Part("xc7a35t", "xc7a35tcpg236-1", "Digilent Basys 3, Cmod A7-35T", 20_800, 41_600, 100, 90, 0, "DSP48E1",
         _DS180_A7 + " (50 BRAM36); Vivado's Available column on an Arty A7-35T agrees"),
    Part("xc7a100t", "xc7a100tcsg324-1", "Digilent Arty A7-100T, Nexys A7-100T", 63_400, 126_800, 270, 240, 0,
         "DSP48E1", _DS180_A7 + " (135 BRAM36); Vivado's Available column on an Arty A7-100T agrees"),
    Part("xczu2cg", "xczu2cg-sbva484-1-e", "Trenz TE0802, smallest Zynq UltraScale+", 47_232, 94_464, 300, 240, 0,
         "DSP48E2", "AMD DS891 Zynq UltraScale+ MPSoC overview, table 1 (150 BRAM36, no UltraRAM)"),
    Part("xck26", "xck26-sfvc784-2LV-c", "Kria KV260/KR260 (K26 SOM)", 117_120, 234_240, 288, 1_248, 64,
         "DSP48E2", "AMD DS987 Kria K26 SOM data sheet (144 BRAM36, 64 UltraRAM): the fabric of an xczu5ev"),
)}


def resolve_part(name: str) -> Part:
    """A short name ('xc7z020') or a full part string ('xc7z020clg484-1') of a known device."""
    key = name.strip().lower()
    if not PART_PATTERN.fullmatch(key):    # the string is written into TCL and cfg files
        raise QgenError(f"'{name[:40]}' is not a part name (letters, digits and '-' only)")
    if key in PARTS:
        return PARTS[key]
    # another package/speed grade of a known device: same resources, the user's exact string. The
    # package follows the device name with a letter or '-'; a digit would name another device
    # (xc7z0101 is not an xc7z010).
    for part in sorted(PARTS.values(), key=lambda p: -len(p.short)):
        rest = key[len(part.short):]
        if key.startswith(part.short) and rest and not rest[0].isdigit():
            return dataclasses.replace(part, full=key)
    known = ", ".join(PARTS)
    raise QgenError(f"unknown part '{name}'; known parts: {known}")


def smallest_first(parts) -> list[Part]:
    """Parts ordered by size: LUTs, then FFs, DSPs, BRAM and URAM."""
    return sorted(parts, key=lambda p: (p.lut, p.ff, p.dsp, p.bram_18k, p.uram, p.short))


def resolve_parts(names: str) -> list[Part]:
    """`--parts`: 'all' or a comma-separated list of part names, smallest first, each device once."""
    items = [n for n in names.split(",") if n.strip()]
    if not items:
        raise QgenError("--parts needs 'all' or a comma-separated list of parts")
    if [n.strip().lower() for n in items] == ["all"]:
        return smallest_first(PARTS.values())
    chosen: dict[str, Part] = {}
    for item in items:
        part = resolve_part(item)
        if part.short in chosen:
            raise QgenError(f"--parts names {part.short} twice")
        chosen[part.short] = part
    return smallest_first(chosen.values())
