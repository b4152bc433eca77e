"""Where the host tools live: the C++ compiler and Xilinx's open ap_types headers.

The bottom floor of the hardware side: C-simulation (csim.py), the threaded run and the lint all
need them, and none of those may import another to get them (that made an import loop).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import QgenError


def ap_types_dir() -> Path:
    """Xilinx's open ap_types headers as shipped inside the installed hls4ml package."""
    try:
        import hls4ml
    except ImportError:
        raise QgenError("C-simulation needs the ap_types headers shipped with hls4ml: pip install hls4ml") from None
    path = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").is_file():
        raise QgenError(f"hls4ml is installed but has no ap_types headers at {path}")
    return path


def find_compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++")
    if not cxx or not shutil.which(cxx):
        raise QgenError("g++ not found: install a C++ compiler (e.g. apt install g++) or set CXX")
    return cxx
